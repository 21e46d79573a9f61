"""Layer contracts of DESIGN.md: imports point downwards only, and core/io/models never import Qt."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "cryogui"
GUI_LIBS = ("PySide6", "PyQt5", "PyQt6", "qtpy", "pyqtgraph", "vispy", "superqt")
# layer -> cryogui layers it must not import
FORBIDDEN = {
    "core": ("cryogui.io", "cryogui.models", "cryogui.workers", "cryogui.views", "cryogui.app", "cryogui.cli"),
    "io": ("cryogui.models", "cryogui.workers", "cryogui.views", "cryogui.app", "cryogui.cli"),
    "models": ("cryogui.workers", "cryogui.views", "cryogui.app", "cryogui.cli"),
    "workers": ("cryogui.views", "cryogui.app", "cryogui.cli"),
    "views": ("cryogui.app", "cryogui.cli"),
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _files(layer: str) -> list[Path]:
    return sorted((PKG / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", ["core", "io", "models"])
def test_headless_layers_import_no_gui_library(layer):
    offenders = [f"{f.relative_to(PKG)} imports {name}" for f in _files(layer) for name in _imports(f)
                 if name.split(".")[0] in GUI_LIBS]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_point_downwards(layer):
    offenders = [f"{f.relative_to(PKG)} imports {name}" for f in _files(layer) for name in _imports(f)
                 if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer])]
    assert not offenders, ("layers import downwards only (app > views > workers > models > io > core): "
                           "core returns arrays, io/cli write files.\n" + "\n".join(offenders))


def test_views_never_import_torch():
    offenders = [f"{f.relative_to(PKG)}" for f in _files("views") for name in _imports(f)
                 if name.split(".")[0] == "torch"]
    assert not offenders, offenders


def test_the_contract_checker_sees_a_violation(tmp_path):
    """The checker itself works: a file importing PySide6 is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nfrom PySide6.QtCore import QObject\n")
    assert "PySide6.QtCore" in _imports(bad)


def test_importing_core_io_models_loads_no_qt():
    import subprocess
    import sys

    code = ("import sys, importlib, pkgutil, cryogui.core, cryogui.io, cryogui.models\n"
            "for pkg in (cryogui.core, cryogui.io, cryogui.models):\n"
            "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
            "        importlib.import_module(m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'vispy', 'qtpy')]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
