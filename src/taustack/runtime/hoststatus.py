"""Readiness and status rows of a stack across hosts: replicas probed at their hosts' gates (with the stack's token),
containers read from every host's engine at once, a vLLM group as one row naming its hosts, a row per gate, and a
row for each host whose engine does not answer."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import httpx
from rich.console import Console

from taustack.engines.base import ReplicaGroup, ReplicaHealth
from taustack.engines.hosted import HostedReplica, node_service
from taustack.render.gate import gate_service_name
from taustack.render.hosts import host_file
from taustack.runtime.docker import ContainerState, recent_log_lines, service_logs
from taustack.runtime.gateway import probe_gateway
from taustack.runtime.health import (
    DEEP_PROBE_TIMEOUT,
    PROBE_TIMEOUT,
    balancer_connections,
    balancer_statuses,
    is_ready,
    probe_all,
    probe_client,
)
from taustack.runtime.polling import poll_until
from taustack.runtime.remote import Host, HostError, host_project, host_states, on_hosts
from taustack.runtime.status import RECENT_WINDOW, ReplicaRow, build_rows, container_label, gateway_row
from taustack.runtime.traffic import ReplicaTraffic, summarize_lines

if TYPE_CHECKING:
    from taustack.runtime.lifecycle import Stack


def probe_headers(token: str | None) -> dict[str, str]:
    """What the controller sends a gate: the stack's token."""
    return {"Authorization": f"Bearer {token}"} if token else {}


async def probe_hosts(groups: Sequence[ReplicaGroup], token: str | None, deep: bool
                      ) -> tuple[list[ReplicaHealth], dict[str, str], dict[str, dict[str, int]]]:
    """Every replica at its gate, and every balancer at the front door, over one client each."""
    async with probe_client(DEEP_PROBE_TIMEOUT if deep else PROBE_TIMEOUT) as plain:
        gated = httpx.AsyncClient(timeout=plain.timeout, trust_env=False, verify=False, headers=probe_headers(token))
        async with gated:
            replicas, answers = await asyncio.gather(probe_all(groups, deep, gated),
                                                     balancer_statuses(groups, token, plain))
            connections = await balancer_connections(groups, token, plain)
    return replicas, answers, connections


def wait_hosts_ready(groups: Sequence[ReplicaGroup], timeout_s: float, token: str | None) -> bool:
    """Probe (a real answer from each replica) until every replica is ready and every balancer reaches one."""
    wanted = {replica.service: group.models for group in groups for replica in group.replicas}

    def check() -> tuple[bool, None]:
        replicas, answers, _ = asyncio.run(probe_hosts(groups, token, deep=True))
        return (all(is_ready(health, wanted[health.replica.service]) for health in replicas)
                and all(answer == "200" for answer in answers.values())), None

    ready, _ = poll_until(check, timeout_s, 1.0)
    return ready


def host_containers(stack: Stack, hosts: Sequence[Host]) -> tuple[dict[str, ContainerState], list[HostError]]:
    """Every host's containers by service (service names are the stack's, unique across hosts), and the hosts whose
    engine did not answer."""
    states: dict[str, ContainerState] = {}
    failed = []
    for _, result in on_hosts(hosts, lambda host: host_states(host, stack.workspace)):
        if isinstance(result, HostError):
            failed.append(result)
        else:
            states.update(result)
    return states, failed


def host_rows(stack: Stack, hosts: Sequence[Host]) -> list[ReplicaRow]:
    """Rows for every replica (by its label), balancer, router, gate and the gateway; a row per silent host."""
    groups = stack.rendered.groups
    token = stack.api_token()
    containers, failed = host_containers(stack, hosts)
    probes, answers, connections = asyncio.run(probe_hosts(groups, token, deep=False))
    door = next((host for host in hosts if host.name == front_name(stack)), None)
    lines = [] if door is None or any(e.host.name == door.name for e in failed) else recent_log_lines(
        host_project(door, stack.workspace), [g.balancer_service for g in groups], RECENT_WINDOW)
    labels = {r.label: r.service for g in groups for r in g.replicas if isinstance(r, HostedReplica)}
    traffic: dict[str, ReplicaTraffic] = {labels.get(k, k): v for k, v in summarize_lines(lines).items()}
    rows = [with_members(row, groups, containers) for row in
            build_rows(groups, probes, containers, answers, traffic, connections)]
    if stack.spec.gateway is not None:
        rows.append(gateway_row(stack.spec.gateway, probe_gateway(stack.spec.gateway, token, False), containers))
    rows += gate_rows(stack, hosts, containers)
    rows += [ReplicaRow(service=f"host {error.host.name}", engine="-", gpus="-", container="unreachable",
                        ready=False, version=error.host.spec.docker, models_on_disk=(), models_loaded=(),
                        problem=str(error)) for error in failed]
    return rows


def front_name(stack: Stack) -> str:
    from taustack.stackfile.hosts import front_host

    assert stack.spec.hosts is not None
    return front_host(stack.spec.hosts)


def with_members(row: ReplicaRow, groups: Sequence[ReplicaGroup], containers: Mapping[str, ContainerState]
                 ) -> ReplicaRow:
    """A replica's row named with its host(s); a vLLM group's row not ready while a member's container is not."""
    replica = next((r for g in groups for r in g.replicas if r.service == row.service), None)
    if not isinstance(replica, HostedReplica):
        return row
    row = replace(row, service=replica.label)
    for rank, host in list(enumerate(replica.nodes))[1:]:
        state = containers.get(node_service(replica, rank))
        if state is None or state.state != "running" or state.health not in ("", "healthy"):
            problem = f"member {node_service(replica, rank)} on {host}: {container_label(state)}"
            return replace(row, ready=False, problem=problem)
    return row


def gate_rows(stack: Stack, hosts: Sequence[Host], containers: Mapping[str, ContainerState]) -> list[ReplicaRow]:
    """A row per host's gate: its container (running and its health check, made with the token)."""
    rows = []
    for host in hosts:
        if f"\n  {gate_service_name(host.name)}:\n" not in stack.rendered.files[host_file(host.name)]:
            continue
        state = containers.get(gate_service_name(host.name))
        # its health check runs with the token; while it is still starting, the probes through it said more
        ok = state is not None and state.state == "running" and state.health != "unhealthy"
        rows.append(ReplicaRow(service=gate_service_name(host.name), engine="gate", gpus="-",
                               container=container_label(state), ready=ok, version=host.address,
                               models_on_disk=(), models_loaded=(), problem="" if ok else "gate not running"))
    return rows


def explain_hosts(stack: Stack, hosts: Sequence[Host], console: Console) -> None:
    """The last log lines of each host's services that are not running and healthy."""
    for host in hosts:
        project = host_project(host, stack.workspace)
        try:
            states = host_states(host, stack.workspace)
        except HostError as exc:
            console.print(str(exc), markup=False, highlight=False)
            continue
        for name, state in states.items():
            if state.state != "running" or state.health not in ("", "healthy"):
                console.print(f"[bold]--- [{host.name}] last log lines of {name} ---[/bold]")
                console.print(service_logs(project, name).rstrip() or "(no output)", markup=False, highlight=False)
