"""The exporter's process: probe in the background, follow the access logs, serve /metrics."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from taustack.engines.base import Replica, ReplicaGroup, Routes
from taustack.errors import TaustackError
from taustack.exporter.accesslog import AccessLogMetrics, BalancerMetrics
from taustack.exporter.probes import StackState, UrlReplica, inside_network
from taustack.fileio import read_json


def load_targets(path: Path) -> tuple[list[ReplicaGroup], int]:
    """The replica groups `taustack render` wrote to targets.json, and nginx's internal status port. A replica with
    a `url` (on another host, behind its gate) is probed there."""
    data = read_json(path, "the exporter's targets", TaustackError)
    groups = []
    for group in data["groups"]:
        replicas = tuple(UrlReplica(group["engine"], r["index"], r["port"], tuple(r["devices"]), url=r["url"])
                         if r.get("url") else Replica(group["engine"], r["index"], r["port"], tuple(r["devices"]))
                         for r in group["replicas"])
        groups.append(ReplicaGroup(group["engine"], group["port"], group["bind"], replicas,
                                   Routes("", "", "", group["health_path"]), tuple(group["models"]), group["auth"]))
    return groups, int(data["status_port"])


def serve(targets: Path, logs: Path, port: int, interval_s: float) -> None:
    groups, status_port = load_targets(targets)
    registry = CollectorRegistry()
    state = StackState(inside_network(groups), status_port, interval_s)
    registry.register(state)
    metrics = BalancerMetrics(registry)
    followers = [AccessLogMetrics(logs / f"{group.engine}-access.log", metrics) for group in groups]
    state.run_forever()
    start_http_server(port, registry=registry)
    print(f"taustack exporter on :{port}: {len(groups)} balancer(s), logs in {logs}", flush=True)
    while True:
        for follower in followers:
            follower.poll()
        time.sleep(1.0)
