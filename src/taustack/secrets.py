"""Secrets in the user's root .env: appended when missing (mode 0600), never written anywhere else.

The file belongs to the user: other lines are never touched, and rendered files name secrets only by variable.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from taustack.errors import TaustackError
from taustack.fileio import write_atomic

MASTER_KEY = "LITELLM_MASTER_KEY"
API_TOKEN = "TAUSTACK_API_TOKEN"
LINE_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (quotes removed); comments and other lines are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values = {}
    for line in text.splitlines():
        match = LINE_RE.match(line)
        if match and not line.lstrip().startswith("#"):
            value = match.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[match.group(1)] = value
    return values


def new_secret() -> str:
    return "sk-" + secrets.token_urlsafe(32)


def ensure_secret(path: Path, name: str) -> str:
    """The secret's value, appending `NAME=...` to .env (created 0600) when it is not there yet."""
    existing = read_env(path).get(name)
    if existing:
        return existing
    value = new_secret()
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    fd = os.open(path, flags, 0o600)
    try:
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            needs_newline = path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
            handle.write(("\n" if needs_newline else "") + f"{name}={value}\n")
    except OSError as exc:
        raise TaustackError(f"cannot write {path}: {exc.strerror}") from None
    os.chmod(path, 0o600)
    return value


def rotate_secret(path: Path, name: str) -> str:
    """Replace the secret's line only (other lines stay byte for byte); append it if missing."""
    if name not in read_env(path):
        return ensure_secret(path, name)
    value = new_secret()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for index, line in enumerate(lines):
        match = LINE_RE.match(line)
        if match and match.group(1) == name and not line.lstrip().startswith("#"):
            lines[index] = f"{name}={value}\n"
    write_atomic(path, "".join(lines), mode=0o600)
    return value


def environment(path: Path) -> dict[str, str]:
    """What compose will see: .env values, overridden by the process environment."""
    return {**read_env(path), **os.environ}
