# Workspaces (issue 8): File > Save/Open workspace, autosave and crash restore; its tests.
.PHONY: workspace-test

workspace-test: setup
	$(PY) -m pytest -q tests/test_workspace_format.py
	$(XVFB) $(PY) -m pytest -q tests/test_workspace_gui.py
