"""What every engine kind shares: replicas, a replica group, routes, probes, GPU pinning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import httpx

from taustack.httperrors import describe_http_error as describe_http_error  # the engines import it from here
from taustack.render.services import ComposeService, Healthcheck, Ulimit
from taustack.stackfile.base import ReplicaGroupSpec, is_public, published_url


@dataclass(frozen=True)
class Replica:
    """One engine container, reachable from the balancer by service name and from the host on loopback."""

    group: str
    index: int
    port: int
    devices: tuple[str, ...]
    # on the CPU, for engines that bind ranks to cores (vLLM): each rank's cores, in the engine's rank order
    cores: tuple[tuple[int, ...], ...] = ()

    @property
    def service(self) -> str:
        return f"{self.group}-{self.index}"

    @property
    def host_url(self) -> str:
        """Where the controller reaches this replica directly (never through the balancer)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def gpus_label(self) -> str:
        return ",".join(self.devices) if self.devices else "cpu"


@dataclass(frozen=True)
class Routes:
    """Which paths a balancer retries on another replica, refuses (and what to say), probes for /health."""

    inference_regex: str
    refused_regex: str
    refused_hint: str
    health_path: str
    # False where the engine may close a kept-alive connection without saying so (nginx would count the
    # replica as failed): every request then gets a new connection
    reuse_connections: bool = True
    metrics_path: str | None = None  # where the engine exports Prometheus metrics of its own, if it does


@dataclass(frozen=True)
class ReplicaGroup:
    """Replicas of one engine kind behind one nginx port, and the models each must serve to be ready."""

    engine: str
    port: int
    bind: str
    replicas: tuple[Replica, ...]
    routes: Routes
    models: tuple[str, ...] = ()
    auth: bool = False
    router: bool = False  # a session-aware router behind the balancer (`balancer.affinity: router`)
    # the variable holding the engine's own API key (vLLM's --api-key); a balancer that checks the API token sends
    # this key upstream in its place
    key_env: str | None = None
    # the tool-calling conformance check (engines.toolcheck): require, warn or off, and the parser it exercises
    tool_check: str = "off"
    tool_parser: str = ""

    @property
    def profile(self) -> str:
        return self.engine

    @property
    def balancer_service(self) -> str:
        return f"{self.engine}-balancer"

    @property
    def balancer_url(self) -> str:
        """Where the controller reaches the balancer: at the address its port is published on."""
        return published_url(self.bind, self.port)

    @property
    def router_service(self) -> str:
        return f"{self.engine}-router"

    @property
    def services(self) -> list[str]:
        router = [self.router_service] if self.router else []
        return [*(replica.service for replica in self.replicas), *router, self.balancer_service]


@dataclass(frozen=True)
class ReplicaHealth:
    """What one probe of a replica saw: whether it answered, and which models it has."""

    replica: Replica
    answered: bool
    latency_s: float = 0.0
    version: str = ""
    models_on_disk: tuple[str, ...] = ()
    models_loaded: tuple[str, ...] = ()
    error: str = ""
    in_flight: int | None = None  # requests the engine is working on, where it exports the number


class Engine(Protocol):
    """One engine kind: its compose services, balancer routes, model names, gateway route, pulls, and what
    "ready" means for it."""

    name: str
    routes: Routes
    pulls_models: bool  # models are pulled into the running replicas (`up` pulls what they lack)

    def build_group(self, spec: Any, devices: Sequence[tuple[str, ...]]) -> ReplicaGroup: ...

    def model_key(self, name: str) -> str: ...

    def served_models(self, spec: Any) -> tuple[str, ...]: ...

    def litellm_params(self, model: str, group: ReplicaGroup) -> dict[str, Any]: ...

    def warm(self, replica: Replica, model: str) -> bool: ...

    def services(self, spec: Any, group: ReplicaGroup, workspace: Any) -> list[ComposeService]: ...

    def volumes(self, spec: Any) -> tuple[str, ...]: ...

    def preflight(self, spec: Any, workspace: Any) -> None: ...

    async def probe(self, client: httpx.AsyncClient, replica: Replica, deep: bool) -> ReplicaHealth: ...


def replica_ports(group_port: int, count: int) -> list[int]:
    """Replica i listens on group_port+1+i, inside its container and on the host's loopback (the stack file's
    validation keeps the last one a port)."""
    return [group_port + 1 + index for index in range(count)]


def place_group(
    engine: str, spec: ReplicaGroupSpec, port: int, routes: Routes, models: tuple[str, ...],
    placement: Sequence[tuple[str, ...]],
) -> ReplicaGroup:
    """Replicas on the devices the stack resolved, each with its port."""
    ports = replica_ports(port, len(placement))
    replicas = tuple(
        Replica(group=engine, index=index, port=replica_port, devices=tuple(devices))
        for index, (replica_port, devices) in enumerate(zip(ports, placement, strict=True))
    )
    return ReplicaGroup(engine=engine, port=port, bind=spec.bind, replicas=replicas, routes=routes, models=models,
                        auth=is_public(spec.bind))


def bind_cores(group: ReplicaGroup, cores: Sequence[tuple[tuple[int, ...], ...]]) -> ReplicaGroup:
    """The group with each replica's rank cores (stackfile.cores placed them); unchanged when none are given."""
    if not cores:
        return group
    replicas = tuple(replace(replica, cores=tuple(placed)) for replica, placed in zip(group.replicas, cores,
                                                                                   strict=True))
    return replace(group, replicas=replicas)


def replica_service(
    group: ReplicaGroup, replica: Replica, image: str, health_test: tuple[str, ...], interval: str, *,
    start_period: str = "120s", entrypoint: tuple[str, ...] = (), command: tuple[str, ...] = (),
    environment: Mapping[str, str] | None = None, volumes: tuple[str, ...] = (), ipc: str = "",
    ulimits: tuple[Ulimit, ...] = (), cpuset: str = "",
) -> ComposeService:
    """What every replica service has: restart on crash, a loopback port, a healthcheck, labels, GPU pinning;
    the rest (command, environment, mounts, ...) is the engine's own."""
    return ComposeService(
        name=replica.service,
        image=image,
        profiles=(group.profile,),
        entrypoint=entrypoint,
        command=command,
        environment=environment if environment is not None else {},
        volumes=volumes,
        ipc=ipc,
        cpuset=cpuset,
        ulimits=ulimits,
        ports=(f"127.0.0.1:{replica.port}:{replica.port}",),
        healthcheck=Healthcheck(test=health_test, interval=interval, start_period=start_period),
        labels={"io.taustack.engine": group.engine, "io.taustack.replica": str(replica.index),
                "io.taustack.gpus": replica.gpus_label},
        gpus=replica.devices,
    )


async def gauge_sum(client: httpx.AsyncClient, url: str, name: str) -> int | None:
    """The sum of a gauge's samples in a Prometheus text page (None when the page or the metric is missing)."""
    try:
        response = await client.get(url)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    values = [float(line.rsplit(None, 1)[-1]) for line in response.text.splitlines()
              if line.startswith((name + " ", name + "{"))]
    return round(sum(values)) if values else None
