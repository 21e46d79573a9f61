# Poses panel (issue 7): its tests, benchmark and screenshot.
.PHONY: poses-test poses-bench poses-screenshot

poses-test: setup
	$(XVFB) $(PY) -m pytest -q tests/test_rotations.py tests/test_poses_core.py tests/test_poses_relion.py \
		tests/test_poses_cli.py tests/test_poses_gui.py

poses-bench: setup
	$(PY) tests/benchmarks/bench_poses.py

poses-screenshot: setup
	CRYOGUI_SCREENSHOTS=1 $(XVFB) $(PY) -m pytest -q tests/test_poses_gui.py -k screenshot
