"""PyInstaller hook for vispy (pyinstaller-hooks-contrib has none).

vispy reads files from its package folder at run time: GLSL shader sources (``vispy/glsl/**.glsl``, looked up by
``vispy.glsl.find``), the bundled OpenSans fonts (``vispy/util/fonts/data``), the SDF/text shaders under
``vispy/visuals``, colormap and IO data.  It also picks its GUI backend by name and imports it with
``importlib`` (``vispy.app.backends._pyside6``), which static analysis cannot see.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

# Every non-Python file of the package except the test suites.
datas = collect_data_files("vispy", excludes=["**/tests/**", "**/testing/**"])

# Backends for toolkits that the bundle does not ship: importing them would drag other Qt bindings or fail.
_UNUSED_BACKENDS = ("_pyqt4", "_pyqt5", "_pyqt6", "_pyside", "_pyside2", "_wx", "_tk", "_pyglet", "_glfw", "_sdl2",
                    "_jupyter_rfb", "_egl", "_osmesa", "_test")


def _wanted(name: str) -> bool:
    parts = name.split(".")
    if "tests" in parts or name.startswith("vispy.testing"):
        return False
    if name.startswith("vispy.app.backends.") and parts[-1] in _UNUSED_BACKENDS:
        return False
    return not name.startswith(("vispy.ext.ipy_inline", "vispy.app.backends.ipython"))


hiddenimports = collect_submodules("vispy", filter=_wanted)
hiddenimports += ["vispy.app.backends._pyside6", "vispy.app.backends._qt"]

excludedimports = ["PyQt5", "PyQt6", "PySide2", "PyQt4", "wx", "tkinter", "pyglet", "glfw", "sdl2", "IPython",
                   "jupyter_rfb", "ipywidgets"]
