"""Read a user's YAML file (a stack file, a training recipe): one-line errors naming the file and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from taustack.errors import TaustackError


def read_yaml(path: Path, what: str, error: type[TaustackError]) -> Any:
    """The parsed document; a missing or unreadable file, or bad YAML, raises `error`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise error(f"{path}{where}: not valid YAML") from None
