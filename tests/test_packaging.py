"""Desktop packaging (issue 8): the .desktop file, AppStream metadata, icon, PyInstaller spec and hooks, and the
per-user desktop install.  Fast checks only: the real bundle is built and smoke-tested by `make package`."""

from __future__ import annotations

import configparser
import os
import re
import runpy
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "resources"
PKG = ROOT / "packaging"
APP_ID = "io.github.cryogui"
DESKTOP = RES / f"{APP_ID}.desktop"
METAINFO = RES / f"{APP_ID}.metainfo.xml"
SVG = RES / "icons" / f"{APP_ID}.svg"
SIZES = (16, 32, 48, 64, 128, 256)
BUNDLE = ROOT / "build" / "bundle" / "cryogui"


def _panel_ids_and_modules() -> list[tuple[str, str]]:
    """(panel_id, module) from the registry's source, without importing Qt."""
    text = (ROOT / "cryogui" / "app" / "registry.py").read_text()
    found = re.findall(r'PanelSpec\(\s*"(\w+)",\s*"[^"]*",\s*"([\w.]+):\w+"', text)
    assert len(found) == 5, found
    return found


def _cli_modules() -> list[str]:
    return sorted(f"cryogui.cli.{p.stem}" for p in (ROOT / "cryogui" / "cli").glob("*.py")
                  if not p.stem.startswith("_"))


# ---------------------------------------------------------------- .desktop


def _desktop_entry() -> configparser.SectionProxy:
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # keys are case-sensitive
    cp.read(DESKTOP, encoding="utf-8")
    return cp["Desktop Entry"]


def test_desktop_entry_names_the_app_its_icon_and_files():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Icon"] == APP_ID  # themed icon name, installed under hicolor by make install-desktop
    assert entry["Exec"].split()[0] == "cryogui"
    assert entry["Exec"].split()[-1] == "%F"  # files opened from a file manager reach the GUI
    assert entry["StartupWMClass"] == "cryogui"  # QApplication's applicationName
    assert "Science" in entry["Categories"].split(";")
    assert entry["Categories"].endswith(";") and entry["Keywords"].endswith(";")


def test_desktop_file_validates():
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (Debian: desktop-file-utils)")
    r = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stdout.lower(), r.stdout + r.stderr


# ---------------------------------------------------------------- AppStream


def test_metainfo_matches_desktop_file_version_and_screenshots():
    import cryogui

    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("project_license") == "BSD-3-Clause"
    assert root.find("launchable").text == DESKTOP.name
    assert root.find("provides/binary").text == "cryogui"
    releases = [r.get("version") for r in root.iter("release")]
    assert cryogui.__version__ in releases, (cryogui.__version__, releases)
    panel_ids = {pid for pid, _ in _panel_ids_and_modules()}
    names = []
    for image in root.iter("image"):
        m = re.fullmatch(r"https://\S+/docs/screenshots/(\w+)\.png", image.text.strip())
        assert m, image.text
        names.append(m.group(1))
    assert set(names) == panel_ids | {"main_window"}  # the window and every panel, as in docs/screenshots
    assert (ROOT / "docs" / "screenshots" / "main_window.png").is_file()
    defaults = [s for s in root.iter("screenshot") if s.get("type") == "default"]
    assert len(defaults) == 1


def test_metainfo_validates():
    tool = shutil.which("appstreamcli")
    if tool is None:
        pytest.skip("appstreamcli is not installed (Debian: appstream)")
    r = subprocess.run([tool, "validate", "--no-net", str(METAINFO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr  # fails on warnings and errors, infos are fine


# ---------------------------------------------------------------- icon


@pytest.mark.gui
def test_icon_renders_from_svg_and_committed_pngs_are_current(qapp):
    from PySide6.QtGui import QColor, QImage

    icons = runpy.run_path(str(RES / "render_icons.py"))
    big = icons["render"](256)
    assert not big.isNull() and big.width() == 256
    assert big.pixelColor(2, 2).alpha() == 0  # transparent outside the hexagon
    assert big.pixelColor(128, 20).alpha() == 255  # the hexagon reaches near the top edge
    ring = big.pixelColor(128 + 72, 128)  # on the pick ring: teal
    assert ring.green() > 180 and ring.red() < 140, ring.name()
    core = big.pixelColor(118, 125)  # inside the particle: warm and bright
    assert core.red() > 220 and core.blue() < 200, core.name()

    total = 0
    for size in SIZES:
        path = RES / "icons" / "png" / f"{APP_ID}-{size}.png"
        committed = QImage(str(path))
        assert committed.width() == committed.height() == size, path
        assert icons["_same"](icons["render"](size), committed), f"{path.name} is stale: run resources/render_icons.py"
        total += path.stat().st_size
    assert total < 50_000  # small enough to commit
    assert QColor(ring).isValid()


# ---------------------------------------------------------------- PyInstaller spec and hooks


def test_spec_lists_what_the_bundle_needs():
    spec = (PKG / "cryogui.spec").read_text()
    compile(spec, "cryogui.spec", "exec")  # valid Python
    for needed in (
        'collect_submodules("cryogui"',  # lazily imported panels, discovered CLI commands
        '"vispy.app.backends._pyside6"',  # vispy picks its backend by name
        '"PySide6.QtOpenGLWidgets"', '"PySide6.QtOpenGL"', '"PySide6.QtSvg"',
        'collect_data_files("cryogui", includes=["resources/**/*"])',  # samples, picker weights
        '"resources" / "icons"',  # the application icon
        'hookspath=[str(PKG / "hooks")]', 'rthook_cryogui.py', 'launcher.py',
        'exclude_binaries=True', 'COLLECT(',  # one-folder, not one-file
    ):
        assert needed in spec, needed
    for _, module in _panel_ids_and_modules():
        assert f'"{module}"' in spec, module
    for excluded in ('"PyQt5"', '"PyQt6"', '"tkinter"', '"pytest"'):
        assert excluded in spec
    # torch's C++ tests and Qt's QML-based plugins are dropped, torch's shared-memory manager kept
    assert '"torch/test/"' in spec and '"torch/bin/torch_shm_manager"' in spec and '"libQt6Quick"' in spec
    assert (PKG / "hooks" / "hook-vispy.py").is_file() and (PKG / "hooks" / "hook-cryogui.py").is_file()
    assert "QT_API" in (PKG / "hooks" / "rthook_cryogui.py").read_text()
    assert "freeze_support" in (PKG / "launcher.py").read_text()


def test_hooks_collect_shaders_fonts_backend_and_package_data():
    pytest.importorskip("PyInstaller", reason="PyInstaller is installed by `make package` (extra 'package')")
    vispy_hook = runpy.run_path(str(PKG / "hooks" / "hook-vispy.py"))
    sources = [Path(src) for src, _ in vispy_hook["datas"]]
    assert any(p.suffix == ".glsl" and "glsl" in p.parts for p in sources)  # shaders
    assert any(p.suffix in (".ttf", ".otf") for p in sources)  # bundled fonts
    assert not any("tests" in p.parts for p in sources)
    hidden = set(vispy_hook["hiddenimports"])
    assert {"vispy.app.backends._pyside6", "vispy.scene", "vispy.visuals.transforms", "vispy.glsl"} <= hidden
    assert "vispy.app.backends._pyqt5" not in hidden and not any(".tests" in h for h in hidden)

    app_hook = runpy.run_path(str(PKG / "hooks" / "hook-cryogui.py"))
    hidden = set(app_hook["hiddenimports"])
    assert {m for _, m in _panel_ids_and_modules()} <= hidden
    assert set(_cli_modules()) <= hidden
    dests = {Path(dest).as_posix() for _, dest in app_hook["datas"]}
    assert "cryogui/resources/samples" in dests


def test_build_script_and_make_targets():
    r = subprocess.run(["bash", "-n", str(PKG / "build.sh")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = (PKG / "build.sh").read_text()
    assert "--smoke-test" in text and "xvfb-run" in text and "build/bundle" in text and "du -sh" in text
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    r = subprocess.run(["make", "-n", "package"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "packaging/build.sh" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(["make", "-n", "install-desktop", "CRYOGUI_EXEC=/opt/x/cryogui"], cwd=ROOT,
                       capture_output=True, text=True, env=env)
    assert "packaging/install-desktop.sh" in r.stdout and "/opt/x/cryogui" in r.stdout, r.stdout + r.stderr
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^package = \["pyinstaller>=6", "pyinstaller-hooks-contrib"\]', pyproject, re.M)
    deps = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    assert "pyinstaller" not in deps.lower()  # a build tool, never a runtime dependency


# ---------------------------------------------------------------- make install-desktop


def test_install_desktop_puts_files_in_xdg_places_and_uninstall_removes_them(tmp_path):
    exe = tmp_path / "my apps" / "cryogui"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    data = tmp_path / "share"
    env = dict(os.environ, XDG_DATA_HOME=str(data))
    r = subprocess.run(["bash", str(PKG / "install-desktop.sh"), str(exe)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    desktop = data / "applications" / f"{APP_ID}.desktop"
    lines = desktop.read_text().splitlines()
    assert f'Exec="{exe}" %F' in lines  # quoted: the path has a space
    assert f"TryExec={exe}" in lines and f"Icon={APP_ID}" in lines
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").read_bytes() == SVG.read_bytes()
    for size in SIZES:
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png").is_file()
    assert (data / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    assert not list((data / "applications").glob(".*"))  # no temporary file left behind

    r = subprocess.run(["bash", str(PKG / "install-desktop.sh"), str(tmp_path / "missing")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "not an executable" in r.stderr

    r = subprocess.run(["bash", str(PKG / "install-desktop.sh"), "--uninstall"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stderr
    left = [p for p in data.rglob("*") if p.is_file() and APP_ID in p.name]
    assert left == []


# ---------------------------------------------------------------- a built bundle, when there is one


def test_built_bundle_has_plugins_shaders_and_data():
    if not (BUNDLE / "cryogui").is_file():
        pytest.skip("no bundle in build/bundle (run `make package`)")
    internal = BUNDLE / "_internal"
    assert os.access(BUNDLE / "cryogui", os.X_OK)
    assert list(internal.glob("PySide6/Qt/plugins/platforms/libqxcb.so"))
    assert list(internal.glob("PySide6/Qt/plugins/platforms/libqoffscreen.so"))
    assert list(internal.glob("PySide6/Qt/plugins/imageformats/libqsvg.so"))
    assert list(internal.glob("vispy/glsl/**/*.glsl"))
    assert list(internal.glob("vispy/util/fonts/data/*"))
    assert (internal / "cryogui" / "resources" / "samples").is_dir()
    assert (internal / "resources" / "icons" / f"{APP_ID}.svg").is_file()
    assert list(internal.glob("torch/lib/libtorch_cpu.so"))
    assert (internal / "torch" / "bin" / "torch_shm_manager").is_file()
    assert not (internal / "torch" / "test").exists()
    assert not list(internal.rglob("libQt6Quick.so*"))
