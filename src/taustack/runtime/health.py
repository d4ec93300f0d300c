"""Probe every replica at once with short timeouts, and wait until the groups are ready."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from taustack.engines.base import ReplicaGroup, ReplicaHealth
from taustack.engines.registry import engine_for
from taustack.httperrors import describe_http_error
from taustack.runtime.polling import poll_until
from taustack.runtime.traffic import parse_stub_status

PROBE_TIMEOUT = httpx.Timeout(5.0, connect=1.0)
DEEP_PROBE_TIMEOUT = httpx.Timeout(60.0, connect=1.0)


def probe_client(timeout: httpx.Timeout = PROBE_TIMEOUT) -> httpx.AsyncClient:
    """Probes speak plain HTTP to the stack's own ports: no TLS context to build (loading CA files costs ~70 ms a
    client)."""
    return httpx.AsyncClient(timeout=timeout, trust_env=False, verify=False)


async def probe_all(groups: Sequence[ReplicaGroup], deep: bool, client: httpx.AsyncClient | None = None
                    ) -> list[ReplicaHealth]:
    if client is None:
        async with probe_client(DEEP_PROBE_TIMEOUT if deep else PROBE_TIMEOUT) as own:
            return await probe_all(groups, deep, own)
    probes = []
    for group in groups:
        engine = engine_for(group)
        probes += [engine.probe(client, replica, deep) for replica in group.replicas]
    return list(await asyncio.gather(*probes))


def bearer(group: ReplicaGroup, token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if group.auth and token else {}


async def balancer_statuses(groups: Sequence[ReplicaGroup], token: str | None,
                            client: httpx.AsyncClient | None = None) -> dict[str, str]:
    """Each balancer's /health through nginx: "200" when a replica answers behind it, else why not."""
    if client is None:
        async with probe_client() as own:
            return await balancer_statuses(groups, token, own)

    async def one(group: ReplicaGroup) -> str:
        try:
            return str((await client.get(f"{group.balancer_url}/health", headers=bearer(group, token))).status_code)
        except httpx.HTTPError as exc:
            return describe_http_error(exc)

    answers = await asyncio.gather(*(one(group) for group in groups))
    return {group.balancer_service: answer for group, answer in zip(groups, answers, strict=True)}


async def balancer_connections(groups: Sequence[ReplicaGroup], token: str | None,
                               client: httpx.AsyncClient) -> dict[str, dict[str, int]]:
    """Each balancer's stub_status counts (nginx's own /-/status); balancers that do not answer are left out."""

    async def one(group: ReplicaGroup) -> dict[str, int] | None:
        try:
            return parse_stub_status((await client.get(f"{group.balancer_url}/-/status",
                                                       headers=bearer(group, token))).text)
        except httpx.HTTPError:
            return None

    answers = await asyncio.gather(*(one(group) for group in groups))
    return {group.balancer_service: counts for group, counts in zip(groups, answers, strict=True) if counts}


async def probe_everything(
    groups: Sequence[ReplicaGroup], token: str | None
) -> tuple[list[ReplicaHealth], dict[str, str], dict[str, dict[str, int]]]:
    """Replicas and balancers at once, over one client. A balancer's connection counts are read after its /health
    answered: a /health still in flight would count as one of the requests it is answering."""
    async with probe_client() as client:

        async def balancers() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
            answers = await balancer_statuses(groups, token, client)
            return answers, await balancer_connections(groups, token, client)

        replicas, (answers, connections) = await asyncio.gather(probe_all(groups, False, client), balancers())
        return replicas, answers, connections


def probe_balancers(groups: Sequence[ReplicaGroup], token: str | None = None) -> dict[str, str]:
    return asyncio.run(balancer_statuses(groups, token))


def probe_groups(groups: Sequence[ReplicaGroup], deep: bool = False) -> list[ReplicaHealth]:
    """One probe of every replica, in parallel; `deep` asks each engine for a real answer too."""
    return asyncio.run(probe_all(groups, deep))


def missing_models(health: ReplicaHealth, models: Sequence[str]) -> list[str]:
    """Models a replica does not list; "*" means the engine hides its list (vLLM with an API key)."""
    if "*" in health.models_on_disk:
        return []
    return [name for name in models if name not in health.models_on_disk]


def is_ready(health: ReplicaHealth, models: Sequence[str]) -> bool:
    """A replica is ready when it answers and lists every model its group must serve."""
    return health.answered and not missing_models(health, models)


def group_models(groups: Sequence[ReplicaGroup]) -> dict[str, tuple[str, ...]]:
    return {replica.service: group.models for group in groups for replica in group.replicas}


def wait_ready(
    groups: Sequence[ReplicaGroup], timeout_s: float, token: str | None = None, deep: bool = True,
    interval_s: float = 0.5,
) -> tuple[bool, list[ReplicaHealth]]:
    """Probe until every replica is ready and every balancer reaches one, or the time is up."""
    wanted = group_models(groups)

    def check() -> tuple[bool, list[ReplicaHealth]]:
        results = probe_groups(groups, deep)
        return all(is_ready(health, wanted[health.replica.service]) for health in results) and all(
            answer == "200" for answer in probe_balancers(groups, token).values()
        ), results

    return poll_until(check, timeout_s, interval_s)
