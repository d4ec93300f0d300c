"""Check a GGUF file before any container starts: present, GGUF, and complete."""

from __future__ import annotations

import struct
from pathlib import Path

from taustack.errors import TaustackError


def check_gguf(path: Path) -> None:
    """Raise a one-line error naming the file when it is missing, not GGUF, or truncated."""
    if not path.is_file():
        raise TaustackError(f"llamacpp.model: {path} does not exist")
    with path.open("rb") as handle:
        header = handle.read(8)
    if len(header) < 8 or header[:4] != b"GGUF":
        raise TaustackError(f"llamacpp.model: {path} is not a GGUF file")
    version = struct.unpack("<I", header[4:8])[0]
    if version not in (2, 3):
        raise TaustackError(f"llamacpp.model: {path} has GGUF version {version}; llama.cpp reads 2 and 3")
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
        end = max((t.data_offset + t.n_bytes for t in reader.tensors), default=0)
    except Exception as exc:  # the reader raises many kinds on a damaged file
        raise TaustackError(f"llamacpp.model: {path} is corrupt ({type(exc).__name__}: {exc})") from None
    if not reader.tensors:
        raise TaustackError(f"llamacpp.model: {path} is corrupt (no tensors)")
    if end > path.stat().st_size:
        raise TaustackError(f"llamacpp.model: {path} is truncated (its tensors need {end} bytes)")
