"""Write rendered files atomically, only when their content changed, and remove stale ones."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write through a temporary file in the same folder and rename it over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_files(directory: Path, files: Mapping[str, str]) -> list[str]:
    """Make `directory` hold exactly `files` (relative path -> text); returns what changed."""
    changed: list[str] = []
    for relative, text in sorted(files.items()):
        target = directory / relative
        try:
            same = target.read_text(encoding="utf-8") == text
        except (FileNotFoundError, IsADirectoryError):
            same = False
        if not same:
            write_atomic(target, text)
            changed.append(relative)
    if directory.is_dir():
        for existing in sorted(directory.rglob("*")):
            relative = existing.relative_to(directory).as_posix()
            if existing.is_file() and relative not in files and not existing.name.startswith("."):
                existing.unlink()
                changed.append(f"{relative} (removed)")
    return changed


def write_json(path: Path, data: Any) -> None:
    """JSON for people and programs (indented, UTF-8 as is), written atomically."""
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
