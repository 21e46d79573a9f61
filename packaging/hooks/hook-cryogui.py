"""PyInstaller hook for cryogui itself.

The panels are imported lazily by dotted name (``cryogui.app.registry``), the CLI discovers its commands with
``pkgutil.iter_modules`` and some subcommands are imported with ``importlib``: none of that is visible to static
analysis, so every submodule is listed.  Package data (``cryogui/resources``: sample maps, picker weights) is read
with paths relative to ``__file__`` and is collected beside the modules.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

hiddenimports = collect_submodules("cryogui", filter=lambda name: ".tests" not in name)
datas = collect_data_files("cryogui", includes=["resources/**/*"])
