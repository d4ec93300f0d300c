"""The one CPU-core inventory of this host and the one reader of core lists (`0-3,6`, Linux's cpuset syntax), for
engines that bind their ranks to cores (vLLM on the CPU); giving cores to replicas is the stack file's
(stackfile/cores.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

CoreInventory = Callable[[], tuple[int, ...]]


def host_cores() -> tuple[int, ...]:
    """The cores this process may run on (its affinity mask: what a container's cpuset or taskset left it)."""
    return tuple(sorted(os.sched_getaffinity(0)))


def parse_core_list(value: str | int | Iterable[int]) -> tuple[int, ...]:
    """`0-3,6` (or a list of core numbers, or one number) -> (0, 1, 2, 3, 6); ValueError saying what is wrong."""
    if isinstance(value, bool):
        raise ValueError("must be a core list such as '0-3,6'")
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        cores: list[int] = []
        for part in (p.strip() for p in value.split(",")):
            low, _, high = part.partition("-")
            if not low.isdigit() or (high and not high.isdigit()):
                raise ValueError(f"{part!r} is not a core number or range (a core list is like '0-3,6')")
            first, last = int(low), int(high or low)
            if last < first:
                raise ValueError(f"{part!r} is a range that runs backwards")
            cores.extend(range(first, last + 1))
    else:
        cores = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int) or item < 0:
                raise ValueError(f"{item!r} is not a core number")
            cores.append(item)
    if not cores:
        raise ValueError("names no core")
    if len(set(cores)) != len(cores):
        raise ValueError("names a core twice")
    return tuple(cores)


def format_core_list(cores: Iterable[int]) -> str:
    """(0, 1, 2, 3, 6) -> `0-3,6`: Docker's --cpuset-cpus and vLLM's VLLM_CPU_OMP_THREADS_BIND both read this."""
    ordered = sorted(cores)
    parts: list[str] = []
    start = previous = None
    for core in [*ordered, None]:
        if core is not None and previous is not None and core == previous + 1:
            previous = core
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = core
    return ",".join(parts)
