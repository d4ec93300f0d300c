"""What every engine kind shares: replicas, a replica group, the routes its balancer serves."""

from __future__ import annotations

from dataclasses import dataclass

from taustack.errors import SpecError


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
    """Which paths a balancer retries on another replica, refuses, and probes for /health."""

    inference_regex: str
    refused_regex: str
    refused_hint: str
    health_path: str


@dataclass(frozen=True)
class ReplicaGroup:
    """Replicas of one engine kind behind one nginx port."""

    engine: str
    profile: str
    port: int
    bind: str
    replicas: tuple[Replica, ...]
    routes: Routes

    @property
    def balancer_service(self) -> str:
        return f"{self.engine}-balancer"

    @property
    def balancer_url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind
        return f"http://{host}:{self.port}"


def replica_ports(group_port: int, count: int, field: str) -> list[int]:
    """Replica i listens on group_port+1+i, inside its container and on the host's loopback."""
    last = group_port + count
    if last > 65535:
        raise SpecError(f"{field}: replicas would listen on ports up to {last}, past 65535")
    return [group_port + 1 + index for index in range(count)]


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
