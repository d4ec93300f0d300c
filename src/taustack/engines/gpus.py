"""GPU words (`GPUS=4|all|cpu`, `GPU_IDS=1,3`) -> the devices each replica is pinned to."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence

from taustack.errors import SpecError

Inventory = Callable[[], list[str]]


def nvidia_smi_inventory() -> list[str]:
    """The indexes of the GPUs on this host, from nvidia-smi; an error when it cannot say."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        raise SpecError("'all' needs nvidia-smi to count the GPUs; give a count (GPUS=4) or GPU_IDS")
    try:
        result = subprocess.run(
            [binary, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SpecError(f"'all': nvidia-smi failed ({exc}); give a count (GPUS=4)") from None
    indexes = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not indexes:
        raise SpecError("'all': nvidia-smi lists no GPU; give a count (GPUS=4) or GPUS=cpu")
    return indexes


def place_replicas(
    section: str,
    gpus: int | str,
    gpu_ids: Sequence[str],
    gpus_per_replica: int | None,
    replicas: int | None,
    inventory: Inventory = nvidia_smi_inventory,
) -> list[tuple[str, ...]]:
    """Device ids per replica (an empty tuple: CPU). Errors name the field of `section`."""
    devices: list[str]
    if gpu_ids:
        if gpus not in ("cpu",):
            raise SpecError(f"{section}.gpu_ids: give either gpus or gpu_ids, not both")
        devices = list(gpu_ids)
    elif gpus == "cpu":
        if gpus_per_replica is not None:
            raise SpecError(f"{section}.gpus_per_replica: set, but the replicas run on the CPU (gpus: cpu)")
        return [() for _ in range(replicas or 1)]
    elif gpus == "all":
        try:
            devices = inventory()
        except SpecError as exc:
            raise SpecError(f"{section}.gpus: {exc}") from None
    else:
        devices = [str(index) for index in range(int(gpus))]

    per_replica = gpus_per_replica
    if per_replica is None:
        if replicas is None:
            per_replica = 1
        elif len(devices) % replicas:
            raise SpecError(
                f"{section}.replicas: {replicas} replicas cannot share {len(devices)} GPUs evenly"
            )
        else:
            per_replica = len(devices) // replicas
    if per_replica > len(devices):
        raise SpecError(f"{section}.gpus_per_replica: {per_replica} is more than the {len(devices)} GPUs given")
    if len(devices) % per_replica:
        raise SpecError(
            f"{section}.gpus_per_replica: {len(devices)} GPUs do not split into groups of {per_replica}"
        )
    count = len(devices) // per_replica
    if replicas is not None and replicas != count:
        raise SpecError(
            f"{section}.replicas: {replicas} replicas x {per_replica} GPUs each does not match "
            f"the {len(devices)} GPUs given"
        )
    return [tuple(devices[i * per_replica:(i + 1) * per_replica]) for i in range(count)]
