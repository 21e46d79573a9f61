"""Entry script of the bundle: the same ``cryogui`` command as the venv's entry point (GUI and CLI)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not start another copy of the app
    from cryogui.cli import main

    sys.exit(main())
