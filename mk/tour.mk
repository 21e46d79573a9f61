# Guided tour, figure export and smoke jobs (issue 8): their tests.
.PHONY: tour-test

tour-test: setup
	$(XVFB) $(PY) -m pytest -q tests/test_tour.py tests/test_figures.py tests/test_smoke_jobs.py
