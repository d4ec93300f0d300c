"""GPU words (`GPUS=4|all|cpu`, `GPU_IDS=1,3`) -> the devices each replica is pinned to (the inventory
itself is engines/gpus.py).

Placement is pure given the devices: the stack file's validators run it for counts and gpu_ids, and the resolve
step runs it for `all`, with the inventory (nvidia-smi).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from taustack.engines.gpus import Inventory, NoGpus, nvidia_smi_gpus
from taustack.errors import SpecError

if TYPE_CHECKING:
    from taustack.stackfile.base import ReplicaGroupSpec

Placement = tuple[tuple[str, ...], ...]
LAST_PORT = 65535


class PlacementError(SpecError, ValueError):
    """A placement that cannot work, as `section.field: message`: a SpecError, and a ValueError for pydantic."""


def nvidia_smi_inventory() -> list[str]:
    """The indexes of the GPUs on this host (for `gpus: all`); a SpecError when nvidia-smi cannot say."""
    try:
        return [gpu.index for gpu in nvidia_smi_gpus()]
    except NoGpus as exc:
        if exc.why == "missing":
            raise SpecError("'all' needs nvidia-smi to count the GPUs; give a count (GPUS=4) or GPU_IDS") from None
        if exc.why == "failed":
            raise SpecError(f"'all': nvidia-smi failed ({exc.detail}); give a count (GPUS=4)") from None
        raise SpecError("'all': nvidia-smi lists no GPU; give a count (GPUS=4) or GPUS=cpu") from None


def needs_inventory(gpus: int | str, gpu_ids: Sequence[str]) -> bool:
    """Only `gpus: all` (without gpu_ids) depends on the host: everything else is checked by validation."""
    return gpus == "all" and not gpu_ids


def gpu_devices(
    section: str, gpus: int | str, gpu_ids: Sequence[str], gpus_per_replica: int | None, inventory: Inventory
) -> list[str] | None:
    """The devices a section is given (None: the CPU)."""
    if gpu_ids:
        if gpus not in ("cpu",):
            raise PlacementError(f"{section}.gpu_ids: give either gpus or gpu_ids, not both")
        return list(gpu_ids)
    if gpus == "cpu":
        if gpus_per_replica is not None:
            raise PlacementError(f"{section}.gpus_per_replica: set, but the replicas run on the CPU (gpus: cpu)")
        return None
    if gpus == "all":
        try:
            return inventory()
        except SpecError as exc:
            raise PlacementError(f"{section}.gpus: {exc}") from None
    return [str(index) for index in range(int(gpus))]


def split_devices(
    section: str, devices: list[str] | None, gpus_per_replica: int | None, replicas: int | None
) -> list[tuple[str, ...]]:
    """Device ids per replica (an empty tuple: CPU). Errors name the field of `section`."""
    if devices is None:
        return [() for _ in range(replicas or 1)]
    per_replica = gpus_per_replica
    if per_replica is None:
        if replicas is None:
            per_replica = 1
        elif len(devices) % replicas:
            raise PlacementError(f"{section}.replicas: {replicas} replicas cannot share {len(devices)} GPUs evenly")
        else:
            per_replica = len(devices) // replicas
    if per_replica > len(devices):
        raise PlacementError(
            f"{section}.gpus_per_replica: {per_replica} is more than the {len(devices)} GPUs given")
    if len(devices) % per_replica:
        raise PlacementError(
            f"{section}.gpus_per_replica: {len(devices)} GPUs do not split into groups of {per_replica}")
    count = len(devices) // per_replica
    if replicas is not None and replicas != count:
        raise PlacementError(
            f"{section}.replicas: {replicas} replicas x {per_replica} GPUs each does not match "
            f"the {len(devices)} GPUs given"
        )
    return [tuple(devices[i * per_replica:(i + 1) * per_replica]) for i in range(count)]


def place_replicas(
    section: str,
    gpus: int | str,
    gpu_ids: Sequence[str],
    gpus_per_replica: int | None,
    replicas: int | None,
    inventory: Inventory = nvidia_smi_inventory,
) -> list[tuple[str, ...]]:
    """Device ids per replica (an empty tuple: CPU). Errors name the field of `section`."""
    devices = gpu_devices(section, gpus, gpu_ids, gpus_per_replica, inventory)
    return split_devices(section, devices, gpus_per_replica, replicas)


def check_ports(section: str, port: int, count: int) -> None:
    """Replica i listens on port+1+i: the last one must still be a port."""
    last = port + count
    if last > LAST_PORT:
        raise PlacementError(f"{section}.port: replicas would listen on ports up to {last}, past {LAST_PORT}")


def place_section(name: str, spec: ReplicaGroupSpec, port: int, inventory: Inventory) -> Placement:
    """A section's devices per replica, its replica ports checked; errors name `name.field`."""
    devices = gpu_devices(name, spec.gpus, spec.gpu_ids, spec.gpus_per_replica, inventory)
    placement = split_devices(name, devices, spec.per_replica_gpus(name, devices), spec.replicas)
    check_ports(name, port, len(placement))
    return tuple(placement)
