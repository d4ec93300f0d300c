"""`taustack status`: a row per replica (container, GPUs, ready, models), built from parallel probes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from taustack.engines.base import ReplicaGroup, ReplicaHealth
from taustack.errors import NotReadyError
from taustack.runtime.docker import ContainerState
from taustack.runtime.gateway import gateway_url
from taustack.runtime.health import is_ready, missing_models
from taustack.runtime.toolcheck import ToolCheckResult
from taustack.runtime.traffic import ReplicaTraffic, distinct_sessions
from taustack.stackfile.gateway import GatewaySpec

RECENT_WINDOW = "5m"


@dataclass(frozen=True)
class ReplicaRow:
    service: str
    engine: str
    gpus: str
    container: str
    ready: bool
    version: str
    models_on_disk: tuple[str, ...]
    models_loaded: tuple[str, ...]
    problem: str
    probe_ms: float = 0.0
    served_recent: int | None = None
    errors_recent: int | None = None
    p50_ms_recent: float | None = None
    sessions_recent: int | None = None
    in_flight: int | None = None


def container_label(state: ContainerState | None) -> str:
    if state is None:
        return "absent"
    if state.health:
        return f"{state.state} ({state.health})"
    return state.state


def build_rows(
    groups: Sequence[ReplicaGroup],
    probes: Sequence[ReplicaHealth],
    containers: dict[str, ContainerState],
    balancers: dict[str, str],
    traffic: dict[str, ReplicaTraffic] | None = None,
    connections: dict[str, dict[str, int]] | None = None,
) -> list[ReplicaRow]:
    """A row per replica then one for its balancer; traffic is per replica over a recent window (the access log),
    connections are each balancer's stub_status counts (requests being answered: writing, less the probe's own)."""
    traffic = traffic or {}
    connections = connections or {}
    by_service = {health.replica.service: health for health in probes}
    rows = []
    for group in groups:
        for replica in group.replicas:
            health = by_service[replica.service]
            state = containers.get(replica.service)
            ready = is_ready(health, group.models) and state is not None and state.state == "running"
            problem = ""
            if state is None or state.state != "running":
                problem = "container not running"
            elif not health.answered:
                problem = health.error
            elif not ready:
                problem = "missing " + ", ".join(missing_models(health, group.models))
            rows.append(
                ReplicaRow(
                    service=replica.service,
                    engine=group.engine,
                    gpus=replica.gpus_label,
                    container=container_label(state),
                    ready=ready,
                    version=health.version,
                    models_on_disk=health.models_on_disk,
                    models_loaded=health.models_loaded,
                    problem=problem,
                    probe_ms=round(health.latency_s * 1000, 1),
                    in_flight=health.in_flight,
                    **traffic_fields(traffic.get(replica.service)),
                )
            )
        answer = balancers.get(group.balancer_service, "not probed")
        state = containers.get(group.balancer_service)
        counts = connections.get(group.balancer_service)
        group_traffic = [traffic[r.service] for r in group.replicas if r.service in traffic]
        answered = answer == "200"
        rows.append(
            ReplicaRow(
                service=group.balancer_service, engine=group.engine, gpus="-", container=container_label(state),
                ready=answered, version=group.balancer_url, models_on_disk=(), models_loaded=(),
                problem="" if answered else f"/health: {answer}",
                served_recent=sum(t.served for t in group_traffic) if answered else None,
                errors_recent=sum(t.errors for t in group_traffic) if answered else None,
                sessions_recent=distinct_sessions(group_traffic) if answered else None,
                in_flight=max(0, counts["writing"] - 1) if counts else None,
            )
        )
        if group.router:
            rows.append(router_row(group, containers.get(group.router_service)))
    return rows


def router_row(group: ReplicaGroup, state: ContainerState | None) -> ReplicaRow:
    """The session router's row: it is not published, so its container's state and Docker's health check of it
    say whether it answers (while it does not, the balancer answers its sessions with least_conn)."""
    problem = ""
    if state is None or state.state != "running":
        problem = "container not running; sessions answered by least_conn"
    elif state.health not in ("", "healthy"):
        problem = f"container {state.health}; sessions answered by least_conn"
    return ReplicaRow(service=group.router_service, engine=group.engine, gpus="-", container=container_label(state),
                      ready=not problem, version="sessions -> replicas", models_on_disk=(), models_loaded=(),
                      problem=problem)


def traffic_fields(traffic: ReplicaTraffic | None) -> dict[str, Any]:
    if traffic is None:
        return {"served_recent": 0, "errors_recent": 0, "sessions_recent": 0}
    return {"served_recent": traffic.served, "errors_recent": traffic.errors, "p50_ms_recent": traffic.p50_ms,
            "sessions_recent": traffic.sessions}


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def print_table(rows: Sequence[ReplicaRow], console: Console, window: str = RECENT_WINDOW) -> None:
    table = Table(title="taustack replicas", title_justify="left",
                  caption=f"served, sessions, 5xx and p50: the last {window}, from the balancer's access log "
                          "(sessions: distinct X-Session-IDs; a balancer counts one that moved replicas once); "
                          "in flight: requests the balancer is answering, and those of each vLLM or llama-server "
                          "replica (its /metrics)", caption_justify="left")
    for column in ("service", "engine", "gpus", "container", "ready", "version / url", "models on disk", "loaded"):
        table.add_column(column)
    for column in ("served", "sessions", "5xx", "p50 ms", "in flight"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row.service,
            row.engine,
            row.gpus,
            row.container,
            ("yes" if not row.problem else f"yes ([yellow]{row.problem}[/yellow])") if row.ready
            else f"[red]no[/red] ({row.problem})",
            row.version or "-",
            ", ".join(row.models_on_disk) or "-",
            ", ".join(row.models_loaded) or "-",
            number(row.served_recent),
            number(row.sessions_recent),
            number(row.errors_recent),
            number(row.p50_ms_recent),
            number(row.in_flight),
        )
    console.print(table)


def show_rows(rows: list[ReplicaRow], console: Console, as_json: bool) -> list[ReplicaRow]:
    """`taustack status`'s output, one host or several: the table (or JSON on stdout); NotReadyError (exit 3) names
    what is not ready."""
    if as_json:
        print(json.dumps([asdict(row) for row in rows], indent=2))
    else:
        print_table(rows, console)
    bad = [row.service for row in rows if not row.ready]
    if bad:
        raise NotReadyError(f"not ready: {', '.join(bad)}")
    return rows


def tool_rows(results: Sequence[ToolCheckResult]) -> list[ReplicaRow]:
    """A row per checked group: the forced tool call through its balancer (a warn-policy failure shows, ready)."""
    return [ReplicaRow(service=f"{result.engine}-tool-calls", engine=result.engine, gpus="-", container="-",
                       ready=not result.blocks, version=f"{result.parser} ({result.policy})",
                       models_on_disk=(result.model,), models_loaded=(),
                       problem=("warn: " if result.problem and not result.blocks else "") + result.problem)
            for result in results]


def gateway_row(gateway: GatewaySpec, answer: str, containers: dict[str, ContainerState]) -> ReplicaRow:
    """The gateway's row: alive (and, after `up`, a model answered through it)."""
    return ReplicaRow(
        service="gateway", engine="litellm", gpus="-", container=container_label(containers.get("gateway")),
        ready=answer == "ready", version=f"{gateway_url(gateway)}/v1",
        models_on_disk=tuple(dict.fromkeys(route.name for route in gateway.models)), models_loaded=(),
        problem="" if answer == "ready" else answer,
    )
