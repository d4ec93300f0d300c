"""What every engine kind shares: replicas, a replica group, routes, probes, GPU pinning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from taustack.engines.gpus import Inventory, place_replicas
from taustack.errors import SpecError
from taustack.httperrors import describe_http_error as describe_http_error  # the engines import it from here
from taustack.stackfile.base import ReplicaGroupSpec, is_public


@dataclass(frozen=True)
class Replica:
    """One engine container, reachable from the balancer by service name and from the host on loopback."""

    group: str
    index: int
    port: int
    devices: tuple[str, ...]

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

    @property
    def profile(self) -> str:
        return self.engine

    @property
    def balancer_service(self) -> str:
        return f"{self.engine}-balancer"

    @property
    def balancer_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def services(self) -> list[str]:
        return [*(replica.service for replica in self.replicas), self.balancer_service]


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
    """One engine kind: its compose services, balancer routes, and what "ready" means for it."""

    name: str
    routes: Routes

    def build_group(self, spec: Any, inventory: Inventory) -> ReplicaGroup: ...

    def services(self, spec: Any, group: ReplicaGroup, workspace: Any) -> dict[str, Any]: ...

    def volumes(self, spec: Any) -> dict[str, Any]: ...

    def preflight(self, spec: Any, workspace: Any) -> None: ...

    async def probe(self, client: httpx.AsyncClient, replica: Replica, deep: bool) -> ReplicaHealth: ...


def replica_ports(group_port: int, count: int, field: str) -> list[int]:
    """Replica i listens on group_port+1+i, inside its container and on the host's loopback."""
    last = group_port + count
    if last > 65535:
        raise SpecError(f"{field}: replicas would listen on ports up to {last}, past 65535")
    return [group_port + 1 + index for index in range(count)]


def place_group(
    engine: str, spec: ReplicaGroupSpec, port: int, routes: Routes, models: tuple[str, ...], inventory: Inventory
) -> ReplicaGroup:
    """Place replicas on GPUs and give each its port."""
    placement = place_replicas(engine, spec.gpus, spec.gpu_ids, spec.gpus_per_replica, spec.replicas, inventory)
    ports = replica_ports(port, len(placement), f"{engine}.port")
    replicas = tuple(
        Replica(group=engine, index=index, port=replica_port, devices=devices)
        for index, (replica_port, devices) in enumerate(zip(ports, placement, strict=True))
    )
    return ReplicaGroup(engine=engine, port=port, bind=spec.bind, replicas=replicas, routes=routes, models=models,
                        auth=is_public(spec.bind))


def gpu_reservation(devices: tuple[str, ...]) -> dict[str, Any]:
    """Compose's way to pin a container to GPUs: device ids as strings, capabilities required."""
    return {
        "resources": {
            "reservations": {
                "devices": [{"driver": "nvidia", "device_ids": list(devices), "capabilities": ["gpu"]}]
            }
        }
    }


def replica_service(
    group: ReplicaGroup, replica: Replica, image: str, health_test: list[str], interval: str, **settings: Any
) -> dict[str, Any]:
    """What every replica service has: restart on crash, a loopback port, a healthcheck, labels, GPU pinning.

    `settings` (environment, entrypoint, command, volumes) come first, in the engine's order.
    """
    service: dict[str, Any] = {
        "image": image,
        "profiles": [group.profile],
        "restart": "unless-stopped",
        **settings,
        "ports": [f"127.0.0.1:{replica.port}:{replica.port}"],
        "healthcheck": {
            "test": health_test,
            "interval": interval,
            "timeout": "5s",
            "retries": 5,
            "start_period": "120s",
        },
        "labels": {"io.taustack.engine": group.engine, "io.taustack.replica": str(replica.index),
                   "io.taustack.gpus": replica.gpus_label},
    }
    if replica.devices:
        service["deploy"] = gpu_reservation(replica.devices)
    return service


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
