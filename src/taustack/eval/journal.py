"""Append-only JSON lines: one finished simulation (or error) per line, so saving costs the same at 10 or 10,000.

A line cut short by a killed process is dropped on reading; every complete line before it counts.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


class Journal:
    """Lines appended from several threads; each line is flushed to the OS before append returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def append(self, record: dict[str, Any] | str) -> None:
        line = record if isinstance(record, str) else json.dumps(record, separators=(",", ":"))
        data = (line.replace("\n", " ") + "\n").encode()
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            needs_newline = self.path.exists() and self.path.stat().st_size > 0 and not ends_with_newline(self.path)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (b"\n" if needs_newline else b"") + data)
            finally:
                os.close(fd)


def ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def read_lines(path: Path, start: int = 0) -> tuple[list[str], int]:
    """The complete JSON lines from byte offset `start`, and the offset after the last complete line."""
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read()
    except FileNotFoundError:
        return [], start
    lines: list[str] = []
    consumed = 0
    for raw in data.split(b"\n")[:-1]:
        consumed += len(raw) + 1
        text = raw.decode(errors="replace").strip()
        if not text:
            continue
        try:
            json.loads(text)
        except json.JSONDecodeError:
            continue  # a line cut short, then appended over: skipped
        lines.append(text)
    return lines, start + consumed


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_lines(path)[0]]


def latest_by_pair(lines: list[str]) -> dict[tuple[str, int], tuple[str, str]]:
    """(task_id, trial) -> (simulation id, its JSON line): the last line for each pair wins (a rerun replaces)."""
    latest: dict[tuple[str, int], tuple[str, str]] = {}
    for line in lines:
        head = json.loads(line)
        latest[(str(head["task_id"]), int(head["trial"]))] = (str(head["id"]), line)
    return latest
