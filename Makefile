# cryogui: `make run` opens the app on the demo data, `make test` runs the whole suite headless.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU torch build (the wheel lies on disk on the project's machines); set TORCH_SPEC for a CUDA build.
TORCH_SPEC ?= torch==2.13.0
XVFB := xvfb-run -a -s "-screen 0 1600x1000x24"
DEMO_DIR ?= demo-data
PYTEST_ARGS ?=

.PHONY: setup sysdeps run test bench screenshot demo clean help
.DEFAULT_GOAL := help

help:
	@echo "make run         set everything up and open the GUI on the demo data"
	@echo "make test        set everything up and run the whole test suite headless"
	@echo "make bench       benchmarks (figures next to references measured in the same run)"
	@echo "make screenshot  render the window and each panel to docs/screenshots/ under Xvfb"

$(VENV)/.stamp: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.stamp

sysdeps:
	@bash scripts/ensure-sysdeps.sh

run: setup sysdeps
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(PY) -m cryogui --demo-dir $(DEMO_DIR); \
	else \
		echo "No display: running the app under Xvfb and saving what it shows to screenshots/ (open the PNGs)."; \
		$(XVFB) $(PY) -m cryogui --demo-dir $(DEMO_DIR) --screenshot screenshots; \
		ls screenshots/*.png; \
	fi

test: setup sysdeps
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup sysdeps
	@for b in tests/benchmarks/bench_*.py; do echo "== $$b"; $(XVFB) $(PY) $$b || exit 1; done

screenshot: setup sysdeps
	$(XVFB) $(PY) -m cryogui --demo-dir $(DEMO_DIR) --screenshot docs/screenshots --settle 6

demo: setup
	$(PY) -m cryogui demo --out $(DEMO_DIR)

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info screenshots

-include mk/*.mk
