"""``cryogui <command>``: parse arguments, call core/io, print progress and a JSON summary.

Each method adds its commands from a module in this package that defines ``register(subparsers)``; the modules
are discovered here, so a new command is one new file.  A command function takes the parsed ``args`` and returns
an exit code.  :class:`cryogui.errors.InputError` anywhere becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from cryogui import __version__
from cryogui.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cryogui",
        description="cryo-EM desktop application. With no command it opens the GUI (on FILEs, or the demo data).",
    )
    parser.add_argument("--version", action="version", version=f"cryogui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def _looks_like_files(argv: list[str]) -> bool:
    return bool(argv) and not argv[0].startswith("-") and ("." in argv[0] or "/" in argv[0])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    gui_flags = {"--smoke-test", "--demo-dir", "--no-demo", "--screenshot", "--settle"}
    if not argv or _looks_like_files(argv) or argv[0] in gui_flags:
        from cryogui.app.application import run_gui

        return run_gui(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"cryogui {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cryogui {args.command}: interrupted", file=sys.stderr)
        return 130
