"""Replica and nginx state, probed in the background and cached: collect() does no I/O."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import httpx
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from taustack.engines.base import Replica, ReplicaGroup, ReplicaHealth
from taustack.runtime.health import PROBE_TIMEOUT, is_ready, probe_all
from taustack.runtime.traffic import parse_stub_status


def inside_network(groups: Sequence[ReplicaGroup]) -> list[ReplicaGroup]:
    """The same groups, reached by service name on the compose network instead of the host's loopback (a replica on
    another host keeps the URL of its host's gate)."""
    return [replace(group, replicas=tuple(r if isinstance(r, UrlReplica) else
                                          InsideReplica(r.group, r.index, r.port, r.devices) for r in group.replicas))
            for group in groups]


class InsideReplica(Replica):
    @property
    def host_url(self) -> str:
        return f"http://{self.service}:{self.port}"


@dataclass(frozen=True)
class UrlReplica(Replica):
    """A replica on another host, reached at its host's gate (which wants the stack's token, TAUSTACK_API_TOKEN)."""

    url: str = ""

    @property
    def host_url(self) -> str:
        return self.url


def gate_headers() -> dict[str, str]:
    """The stack's token for replicas behind gates, from the exporter's environment (none on one host)."""
    token = os.environ.get("TAUSTACK_API_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


class StackState(Collector):
    """Probes every `interval_s` in a thread; Prometheus reads the last results."""

    def __init__(self, groups: Sequence[ReplicaGroup], status_port: int, interval_s: float = 5.0) -> None:
        self.groups = list(groups)
        self.status_port = status_port
        self.interval_s = interval_s
        self.health: list[ReplicaHealth] = []
        self.connections: dict[str, dict[str, int]] = {}

    def refresh(self) -> None:
        self.health = asyncio.run(self.probe())
        connections = {}
        for group in self.groups:
            try:
                text = httpx.get(f"http://{group.balancer_service}:{self.status_port}/nginx_status", timeout=2).text
            except httpx.HTTPError:
                continue
            counts = parse_stub_status(text)
            if counts is not None:
                connections[group.balancer_service] = counts
        self.connections = connections

    async def probe(self) -> list[ReplicaHealth]:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT, trust_env=False, headers=gate_headers()) as client:
            return await probe_all(self.groups, False, client)

    def run_forever(self) -> threading.Thread:
        def loop() -> None:
            while True:
                started = time.monotonic()
                self.refresh()
                time.sleep(max(0.5, self.interval_s - (time.monotonic() - started)))

        thread = threading.Thread(target=loop, name="probes", daemon=True)
        thread.start()
        return thread

    def collect(self) -> Iterator[GaugeMetricFamily]:
        models = {replica.service: group.models for group in self.groups for replica in group.replicas}
        up = GaugeMetricFamily("taustack_replica_up", "The replica answered its last probe",
                               labels=["engine", "replica"])
        ready = GaugeMetricFamily("taustack_replica_ready", "The replica answers and serves every model it must",
                                  labels=["engine", "replica"])
        latency = GaugeMetricFamily("taustack_replica_probe_seconds", "How long the last probe took",
                                    labels=["engine", "replica"])
        loaded = GaugeMetricFamily("taustack_replica_models_loaded", "Models loaded in memory",
                                   labels=["engine", "replica"])
        for health in self.health:
            labels = [health.replica.group, health.replica.service]
            up.add_metric(labels, 1.0 if health.answered else 0.0)
            ready.add_metric(labels, 1.0 if is_ready(health, models.get(health.replica.service, ())) else 0.0)
            latency.add_metric(labels, health.latency_s)
            loaded.add_metric(labels, float(len(health.models_loaded)))
        nginx = GaugeMetricFamily("taustack_nginx_connections", "nginx connections by state (stub_status)",
                                  labels=["balancer", "state"])
        for balancer, states in self.connections.items():
            for state, value in states.items():
                nginx.add_metric([balancer, state], float(value))
        yield from (up, ready, latency, loaded, nginx)
