# Picking panel targets (included by the main Makefile).
PICKER_STEPS ?= 700

.PHONY: train-picker bench-picking test-picking

# Reproduce the shipped learned-picker weights (cryogui/resources/picker/picker.pt, < 1 MB) from synthetic data.
train-picker: setup
	CRYOGUI_DEVICE=$${CRYOGUI_DEVICE:-cpu} $(PY) -m cryogui picks train --steps $(PICKER_STEPS) --batch 12 --pool 320 --seed 0

bench-picking: setup sysdeps
	$(XVFB) $(PY) tests/benchmarks/bench_picking.py

test-picking: setup
	$(XVFB) $(PY) -m pytest -q tests/test_picking*.py tests/test_coords*.py
