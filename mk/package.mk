# Desktop packaging (issue 8): `make package` builds the PyInstaller one-folder bundle into build/bundle/cryogui and
# smoke-tests it under Xvfb; `make install-desktop` adds cryogui to the current user's application menu.
.PHONY: package package-deps install-desktop uninstall-desktop icons

BUNDLE_EXE := $(CURDIR)/build/bundle/cryogui/cryogui
VENV_EXE := $(abspath $(VENV))/bin/cryogui
# What the menu entry starts: the bundle when one is built, else the venv's entry point (override: CRYOGUI_EXEC=...)
CRYOGUI_EXEC ?= $(if $(wildcard $(BUNDLE_EXE)),$(BUNDLE_EXE),$(VENV_EXE))

package-deps: setup
	@$(PY) -c "import PyInstaller" 2>/dev/null || $(PY) -m pip install -q "pyinstaller>=6" pyinstaller-hooks-contrib

package: package-deps sysdeps
	PY=$(abspath $(PY)) bash packaging/build.sh

install-desktop:
	@test -x "$(CRYOGUI_EXEC)" || $(MAKE) --no-print-directory setup
	bash packaging/install-desktop.sh "$(CRYOGUI_EXEC)"

uninstall-desktop:
	bash packaging/install-desktop.sh --uninstall

# re-render the committed PNG icon sizes after editing resources/icons/io.github.cryogui.svg
icons: setup
	$(PY) resources/render_icons.py
