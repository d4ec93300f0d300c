"""The one Console factory: rich output for people on stdout (tables) or stderr (progress, what happened)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def console(err: bool = False) -> Console:
    """A Console on stderr (`err`) or stdout: wraps to the terminal, 160 columns when piped (logs, CI)."""
    from rich.console import Console

    stream = sys.stderr if err else sys.stdout
    return Console(file=stream, soft_wrap=True, width=None if stream.isatty() else 160)


def stderr_console() -> Console:
    return console(err=True)


def stdout_console() -> Console:
    return console(err=False)
