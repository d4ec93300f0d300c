"""Cores for engines that bind their ranks to them (vLLM on the CPU): each rank of each replica gets cores_per_rank
cores of its own, and the other CPU engine sections of the host must fit in what is left.

vLLM's CPU workers spin their OpenMP threads on the cores they are bound to: two ranks on one core, or llama.cpp's
threads on a bound core, halve both. So the check counts every engine section that uses this host's CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from taustack.engines.cpus import CoreInventory, format_core_list
from taustack.stackfile.gpus import PlacementError

if TYPE_CHECKING:
    from taustack.stackfile.stack import StackSpec
    from taustack.stackfile.vllm import VllmSpec

# per replica, per rank: the cores it is bound to
RankCores = tuple[tuple[tuple[int, ...], ...], ...]


def place_ranks(vllm: VllmSpec, host: Sequence[int]) -> RankCores:
    """vLLM's CPU ranks on cores, in order: replica 0's ranks (DP, then PP, then TP, as vLLM reads
    VLLM_CPU_OMP_THREADS_BIND), then replica 1's. Errors name vllm.cpu_cores."""
    cores = vllm.cpu_cores if vllm.cpu_cores is not None else tuple(host)
    foreign = sorted(set(cores) - set(host))
    if foreign:
        raise PlacementError(f"vllm.cpu_cores: core(s) {format_core_list(foreign)} are not among this host's "
                             f"({format_core_list(host)})")
    needed = vllm.cores_needed()
    if needed > len(cores):
        where = "given" if vllm.cpu_cores is not None else f"on this host ({format_core_list(host)})"
        raise PlacementError(f"vllm.cpu_cores: {vllm.cores_layout()} need {needed} cores, {len(cores)} {where}: "
                             "fewer replicas or ranks, or cores_per_rank 1")
    per_rank, ranks = vllm.cores_per_rank, vllm.replica_size()
    return tuple(
        tuple(tuple(cores[(replica * ranks + rank) * per_rank:(replica * ranks + rank + 1) * per_rank])
              for rank in range(ranks))
        for replica in range(vllm.replicas or 1))


def place_cores(spec: StackSpec, inventory: CoreInventory) -> dict[str, RankCores]:
    """The cores of every engine section that binds them (vLLM on the CPU), checked against this host's cores and
    the other CPU sections' threads; {} when no section binds cores."""
    if spec.vllm is None or not spec.vllm.on_cpu():
        return {}
    host = inventory()
    placed = place_ranks(spec.vllm, host)
    bound = {core for replica in placed for rank in replica for core in rank}
    llama = spec.llamacpp
    if llama is not None and llama.gpus == "cpu" and not llama.gpu_ids:
        threads = llama.threads * (llama.replicas or 1)
        left = len(host) - len(bound)
        if threads > left:
            raise PlacementError(
                f"llamacpp.threads: {llama.replicas or 1} replica(s) x {llama.threads} thread(s) need {threads} "
                f"cores, and vLLM's ranks hold {len(bound)} of this host's {len(host)} (vllm.cpu_cores): {left} left")
    return {"vllm": placed}
