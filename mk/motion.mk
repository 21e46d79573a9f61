# Eigen-motion panel (issue 6): its tests, benchmark and screenshot.
.PHONY: motion-test motion-bench motion-simulate

motion-test: setup
	$(XVFB) $(PY) -m pytest -q tests/test_motion_core.py tests/test_motion_cli.py tests/test_motion_gui.py

motion-bench: setup
	$(PY) tests/benchmarks/bench_motion.py

motion-simulate: setup
	$(PY) -m cryogui simulate motion --out demo/motion --particles 3000 --classes 11 --snr 1.0
