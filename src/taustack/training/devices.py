"""Which GPUs a training run gets: `--gpus N|all|cpu` or `--gpu-ids 0,1`, checked against `nvidia-smi -L`."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from taustack.training.recipe import TrainingError

NO_GPU_HINT = "train on the CPU with --gpus cpu (GPUS=cpu)"


@dataclass(frozen=True)
class Gpu:
    index: str
    uuid: str
    name: str


Inventory = Callable[[], list[Gpu]]
LINE = re.compile(r"^GPU (\d+): (.*?) \(UUID: (\S+)\)")


def parse_nvidia_smi_list(text: str) -> list[Gpu]:
    """`nvidia-smi -L` output -> GPUs (MIG lines are skipped)."""
    gpus = []
    for line in text.splitlines():
        match = LINE.match(line.strip())
        if match:
            gpus.append(Gpu(index=match.group(1), uuid=match.group(3), name=match.group(2)))
    return gpus


def nvidia_smi_gpus() -> list[Gpu]:
    """The GPUs this host's driver lists; an error when nvidia-smi is missing or lists none."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        raise TrainingError(f"no NVIDIA GPUs are visible (nvidia-smi not found); {NO_GPU_HINT}")
    try:
        result = subprocess.run([binary, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TrainingError(f"nvidia-smi -L failed ({exc}); {NO_GPU_HINT}") from None
    gpus = parse_nvidia_smi_list(result.stdout)
    if result.returncode != 0 or not gpus:
        raise TrainingError(f"no NVIDIA GPUs are visible (nvidia-smi -L lists none); {NO_GPU_HINT}")
    return gpus


def select_devices(gpus: str | None, gpu_ids: str | None, inventory: Inventory = nvidia_smi_gpus) -> tuple[str, ...]:
    """Device ids for Docker's DeviceRequest; an empty tuple means the CPU. Ids must exist on this host."""
    if gpus is not None and gpu_ids is not None:
        raise TrainingError("give either --gpus or --gpu-ids, not both")
    if gpu_ids is not None:
        wanted = [part.strip() for part in gpu_ids.split(",")]
        if not all(wanted):
            raise TrainingError(f"--gpu-ids: {gpu_ids!r} is not a comma-separated list of GPU indexes or UUIDs")
        if len(set(wanted)) != len(wanted):
            raise TrainingError(f"--gpu-ids: {gpu_ids!r} names a GPU twice")
        present = inventory()
        known = {gpu.index for gpu in present} | {gpu.uuid for gpu in present}
        missing = [gpu for gpu in wanted if gpu not in known]
        if missing:
            listed = ", ".join(gpu.index for gpu in present)
            raise TrainingError(f"--gpu-ids: GPU {', '.join(missing)} does not exist on this host (GPUs: {listed})")
        return tuple(wanted)
    word = (gpus or "all").strip().lower()
    if word in ("cpu", "0"):
        return ()
    present = inventory()
    if word == "all":
        return tuple(gpu.index for gpu in present)
    if not word.isdigit():
        raise TrainingError(f"--gpus: {gpus!r} is not a GPU count, 'all' or 'cpu'")
    if int(word) > len(present):
        raise TrainingError(f"--gpus: {word} GPUs asked for, this host has {len(present)}")
    return tuple(gpu.index for gpu in present[:int(word)])
