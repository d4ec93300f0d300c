"""The one GPU inventory (`nvidia-smi -L`) and the one GPU-word parser (`GPUS=4|all|cpu`), for serving and training
alike; placing replicas on the devices is the stack file's (stackfile/gpus.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

Inventory = Callable[[], list[str]]
LINE = re.compile(r"^GPU (\d+): (.*?) \(UUID: (\S+)\)")
NOT_A_WORD = "is not a GPU count, 'all' or 'cpu'"


@dataclass(frozen=True)
class Gpu:
    index: str
    uuid: str
    name: str


class NoGpus(Exception):
    """nvidia-smi cannot list GPUs: `why` is "missing" (not installed), "failed" (with `detail`) or "none"."""

    def __init__(self, why: str, detail: str = "") -> None:
        super().__init__(why, detail)
        self.why, self.detail = why, detail


def parse_gpu_word(value: int | str) -> int | str:
    """The one reader of GPU words: a count (> 0), "all" or "cpu" (also 0); ValueError saying what is wrong."""
    if isinstance(value, bool):
        raise ValueError("must be a GPU count, 'all' or 'cpu'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} {NOT_A_WORD}")
        return value if value > 0 else "cpu"
    word = value.strip().lower()
    if word.isdigit():
        return int(word) if int(word) > 0 else "cpu"
    if word in ("all", "cpu"):
        return word
    raise ValueError(f"{value!r} {NOT_A_WORD}")


def parse_nvidia_smi_list(text: str) -> list[Gpu]:
    """`nvidia-smi -L` output -> GPUs (MIG lines are skipped)."""
    gpus = []
    for line in text.splitlines():
        match = LINE.match(line.strip())
        if match:
            gpus.append(Gpu(index=match.group(1), uuid=match.group(3), name=match.group(2)))
    return gpus


def nvidia_smi_gpus() -> list[Gpu]:
    """The one GPU inventory: what this host's driver lists (`nvidia-smi -L`); NoGpus when it cannot say."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        raise NoGpus("missing")
    try:
        result = subprocess.run([binary, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NoGpus("failed", str(exc)) from None
    gpus = parse_nvidia_smi_list(result.stdout)
    if result.returncode != 0 or not gpus:
        raise NoGpus("none")
    return gpus
