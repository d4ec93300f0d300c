"""Which GPUs a training run gets: `--gpus N|all|cpu` or `--gpu-ids 0,1`, checked against the host's GPUs
(engines.gpus: the one inventory and GPU-word parser, shared with serving)."""

from __future__ import annotations

from collections.abc import Callable

from taustack.engines.gpus import Gpu, NoGpus, parse_gpu_word
from taustack.engines.gpus import nvidia_smi_gpus as host_gpus
from taustack.training.recipe import TrainingError

NO_GPU_HINT = "train on the CPU with --gpus cpu (GPUS=cpu)"
Inventory = Callable[[], list[Gpu]]


def nvidia_smi_gpus() -> list[Gpu]:
    """The host's GPUs (engines.gpus's inventory), its errors worded for a training run."""
    try:
        return host_gpus()
    except NoGpus as exc:
        if exc.why == "missing":
            raise TrainingError(f"no NVIDIA GPUs are visible (nvidia-smi not found); {NO_GPU_HINT}") from None
        if exc.why == "failed":
            raise TrainingError(f"nvidia-smi -L failed ({exc.detail}); {NO_GPU_HINT}") from None
        raise TrainingError(f"no NVIDIA GPUs are visible (nvidia-smi -L lists none); {NO_GPU_HINT}") from None


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
    try:
        word = parse_gpu_word(gpus or "all")
    except ValueError as exc:
        raise TrainingError(f"--gpus: {exc}") from None
    if word == "cpu":
        return ()
    present = inventory()
    if word == "all":
        return tuple(gpu.index for gpu in present)
    count = int(word)
    if count > len(present):
        raise TrainingError(f"--gpus: {count} GPUs asked for, this host has {len(present)}")
    return tuple(gpu.index for gpu in present[:count])
