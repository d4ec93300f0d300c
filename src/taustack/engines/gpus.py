"""GPU words (`GPUS=4|all|cpu`, `GPU_IDS=1,3`) -> the devices each replica is pinned to; the one GPU inventory
(`nvidia-smi -L`) and the one GPU-word parser, for serving and training alike."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from taustack.errors import SpecError

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
