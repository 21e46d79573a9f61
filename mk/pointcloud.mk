# Point-cloud panel (issue 4): its tests, benchmark and screenshot.
.PHONY: pointcloud-test pointcloud-bench pointcloud-screenshot

pointcloud-test: setup
	$(XVFB) $(PY) -m pytest -q tests/test_pointcloud_core.py tests/test_pointcloud_io_cli.py tests/test_pointcloud_gui.py

pointcloud-bench: setup
	$(PY) tests/benchmarks/bench_pointcloud.py

pointcloud-screenshot: setup
	CRYOGUI_SCREENSHOTS=1 $(XVFB) $(PY) -m pytest -q tests/test_pointcloud_gui.py -k screenshot
