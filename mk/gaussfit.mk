# Gaussian-fit panel (issue 5): its tests, benchmark and screenshot.
.PHONY: gaussfit-test gaussfit-bench

gaussfit-test: setup
	$(XVFB) $(PY) -m pytest -q tests/test_gmm_render.py tests/test_gmm_fit.py tests/test_gmm_cli.py tests/test_gmm_gui.py

gaussfit-bench: setup
	$(PY) tests/benchmarks/bench_gaussfit.py
