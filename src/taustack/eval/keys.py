"""After a run: no file it wrote may hold a key's value (tau2 26.3 writes llm_args, keys included, into results)."""

from __future__ import annotations

from pathlib import Path

from taustack.errors import TaustackError


def files_holding(folder: Path, secrets: list[str]) -> list[Path]:
    """Every file under `folder` that contains any of the secrets' values (bytes, read in blocks)."""
    needles = [s.encode() for s in secrets if s]
    if not needles:
        return []
    longest = max(len(n) for n in needles)
    found: list[Path] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        tail = b""
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                window = tail + block
                if any(n in window for n in needles):
                    found.append(path)
                    break
                tail = window[-(longest - 1):] if longest > 1 else b""
    return found


def check_no_keys(folder: Path, secrets: list[str]) -> None:
    holding = files_holding(folder, secrets)
    if holding:
        names = ", ".join(str(p.relative_to(folder)) for p in holding)
        raise TaustackError(f"a key's value was written into {names} under {folder}: delete those files (and rotate "
                            f"the key: taustack key rotate) — this is a bug, please report it")
