"""Probe every replica at once with short timeouts, and wait until a group is ready."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import httpx

from taustack.engines import ollama
from taustack.engines.base import ReplicaGroup, ReplicaHealth

PROBE_TIMEOUT = httpx.Timeout(3.0, connect=1.0)


async def probe_all(groups: Sequence[ReplicaGroup]) -> list[ReplicaHealth]:
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT, trust_env=False) as client:
        return list(
            await asyncio.gather(*(ollama.probe(client, r) for group in groups for r in group.replicas))
        )


def probe_groups(groups: Sequence[ReplicaGroup]) -> list[ReplicaHealth]:
    """One probe of every replica, in parallel."""
    return asyncio.run(probe_all(groups))


def is_ready(health: ReplicaHealth, models: Sequence[str]) -> bool:
    """A replica is ready when it answers and lists every model the spec names."""
    return health.answered and not ollama.missing_models(health, list(models))


def wait_ready(
    groups: Sequence[ReplicaGroup], models: Sequence[str], timeout_s: float, interval_s: float = 0.5
) -> tuple[bool, list[ReplicaHealth]]:
    """Probe until every replica is ready or the time is up; returns the last probes."""
    deadline = time.monotonic() + timeout_s
    while True:
        results = probe_groups(groups)
        if all(is_ready(health, models) for health in results):
            return True, results
        if time.monotonic() >= deadline:
            return False, results
        time.sleep(interval_s)
