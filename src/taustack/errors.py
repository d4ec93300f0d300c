"""One error hierarchy; the CLI maps each kind to an exit code and a one-line message."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_READY = 3


class TaustackError(Exception):
    """An error the user can act on: printed as `Error: <message>`, exit code 1."""

    exit_code = EXIT_ERROR


class SpecError(TaustackError):
    """An invalid value in the stack file or in an override; the message names the field."""


class NotReadyError(TaustackError):
    """The stack runs but something in it is not ready: exit code 3."""

    exit_code = EXIT_NOT_READY
