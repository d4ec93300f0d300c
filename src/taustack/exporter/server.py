"""The exporter's process: probe in the background, follow the access logs, serve /metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from taustack.engines.base import Replica, ReplicaGroup, Routes
from taustack.errors import TaustackError
from taustack.exporter.accesslog import AccessLogMetrics, BalancerMetrics
from taustack.exporter.probes import StackState, inside_network


def load_targets(path: Path) -> tuple[list[ReplicaGroup], int]:
    """The replica groups `taustack render` wrote to targets.json, and nginx's internal status port."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TaustackError(f"{path}: cannot read the exporter's targets ({type(exc).__name__})") from None
    groups = []
    for group in data["groups"]:
        replicas = tuple(Replica(group["engine"], r["index"], r["port"], tuple(r["devices"]))
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
