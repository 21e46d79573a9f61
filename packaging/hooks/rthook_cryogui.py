"""Runtime hook: runs inside the bundle before cryogui is imported."""

import os

# superqt goes through qtpy, which would otherwise probe for other Qt bindings first: the bundle has PySide6 only.
os.environ.setdefault("QT_API", "pyside6")
