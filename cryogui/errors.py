"""Error types that every layer shares (no Qt here).

``InputError`` is what bad user input raises: an unreadable file, a wrong parameter, a map with NaNs.  Its message
is written for the user: the GUI shows it in a dialog, the CLI prints it on one line and exits with code 2.
"""

from __future__ import annotations

from pathlib import Path


class CryoguiError(Exception):
    """Base class of the errors that cryogui raises on purpose."""


class InputError(CryoguiError):
    """Bad input: a message for the user, never a traceback."""


class FormatError(InputError):
    """A file that cannot be read as what it claims to be.  The message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class JobDiverged(CryoguiError):
    """A numerical job stopped itself because its loss became non-finite or exploded."""
