"""Files, in one place: atomic writes (a temporary file beside the target, renamed over it), rendered folders
written only where they changed, and the JSON and YAML readers whose errors name the file in one line."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from taustack.errors import TaustackError


def temp_beside(target: Path) -> Path:
    """A new empty temporary file in the target's folder (so a rename onto the target is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(descriptor)
    return Path(name)


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write through a temporary file in the same folder and rename it over the target."""
    tmp = temp_beside(path)
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """JSON for people and programs (indented, UTF-8 as is), written atomically."""
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


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


def read_text(path: Path, what: str, error: type[TaustackError]) -> str:
    """A file's text; a missing or unreadable file raises `error` naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None


def read_yaml(path: Path, what: str, error: type[TaustackError]) -> Any:
    """The parsed document; a missing or unreadable file, or bad YAML, raises `error`."""
    import yaml

    text = read_text(path, what, error)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise error(f"{path}{where}: not valid YAML") from None


def read_json(path: Path, what: str, error: type[TaustackError]) -> Any:
    """The parsed JSON; a missing or unreadable file, or bad JSON, raises `error` naming the file."""
    text = read_text(path, what, error)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise error(f"{path}: {what} is not valid JSON ({exc})") from None


def iter_jsonl(path: Path, what: str, error: type[TaustackError]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of each non-blank line, streamed; an unreadable file, or a line that is not
    JSON, raises `error` naming the file (and the line)."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except ValueError:
                    raise error(f"{path} line {number}: not JSON") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise error(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None
