"""A resolved stack across hosts -> one compose file per host (compose/generated/hosts/NAME/compose.yaml): each
host's replicas and its gate; the front host also carries the balancers, routers, gateway and monitoring. Pure:
nothing is written or refused here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from taustack.engines.base import Engine, ReplicaGroup
from taustack.engines.hosted import HostedReplica, hosted_group
from taustack.engines.llamacpp import MODELS_VOLUME, model_path
from taustack.engines.registry import engine_sections
from taustack.render import monitoring
from taustack.render.frontdoor import front_services, front_view
from taustack.render.gate import gate_service, gate_view, host_replicas, render_gate_conf
from taustack.render.hostcompose import HostCompose, HostService, host_document
from taustack.render.hostmonitoring import monitoring_services
from taustack.render.nginx import render_nginx_conf
from taustack.render.stack import RenderedStack, source_name
from taustack.render.vllm_group import group_services
from taustack.stackfile.resolve import ResolvedStack
from taustack.stackfile.spread import HostLayout, ReplicaNodes
from taustack.workspace import Workspace

HOST_LABEL = "io.taustack.host"


def host_file(host: str) -> str:
    """Where a host's compose file lies among the rendered files."""
    return f"hosts/{host}/compose.yaml"


def hosted_groups(resolved: ResolvedStack, layout: HostLayout) -> list[ReplicaGroup]:
    """Every group as on one host (ports, routes, keys), each replica on its host(s)."""
    spec = resolved.spec
    addresses = {name: host.address for name, host in (spec.hosts or {}).items()}
    groups = []
    for engine, section in engine_sections(spec):
        group = engine.build_group(section, resolved.devices(engine.name))
        placed = layout.sections[engine.name]
        cores = [nodes[0].cores for nodes in placed]
        if any(cores):
            group = replace(group, replicas=tuple(replace(r, cores=c) for r, c in zip(group.replicas, cores,
                                                                                      strict=True)))
        group = replace(group, router=spec.balancer.affinity_for(len(group.replicas)) == "router")
        groups.append(hosted_group(group, [tuple(node.host for node in nodes) for nodes in placed], addresses))
    return groups


def replica_services(engine: Engine, section: Any, group: ReplicaGroup, placed: Sequence[ReplicaNodes],
                     addresses: Mapping[str, str], workspace: Workspace) -> list[tuple[str, HostService]]:
    """(host, service) of every replica, or of every node of a vLLM group spanning hosts. A GGUF on this machine is
    mounted from a volume the controller fills on each host; nothing else changes."""
    if getattr(section, "nodes", 1) > 1:
        return group_services(section, group, placed, addresses)
    volumes: tuple[str, ...] | None = None
    if engine.name == "llamacpp" and model_path(section, workspace) is not None:
        volumes = (f"{MODELS_VOLUME}:/models:ro",)
    placed_services = []
    for service, replica in zip(engine.services(section, group, workspace), group.replicas, strict=True):
        assert isinstance(replica, HostedReplica)
        service = replace(service, labels={**service.labels, HOST_LABEL: replica.host},
                          volumes=service.volumes if volumes is None else volumes)
        placed_services.append((replica.host, HostService(service)))
    return placed_services


def host_volumes(engine: Engine, section: Any, workspace: Workspace) -> tuple[str, ...]:
    """The named volumes a section's replicas use on their hosts."""
    if engine.name == "llamacpp" and model_path(section, workspace) is not None:
        return (MODELS_VOLUME,)
    return engine.volumes(section)


def render_hosts(resolved: ResolvedStack, workspace: Workspace, stack_file: Path) -> RenderedStack:
    """Each host's compose file; the groups carry each replica's host, for the controller's probes and status."""
    spec, layout = resolved.spec, resolved.layout
    assert layout is not None and spec.hosts is not None
    source = source_name(workspace, stack_file)
    addresses = {name: host.address for name, host in spec.hosts.items()}
    groups = hosted_groups(resolved, layout)
    services: dict[str, list[HostService]] = {host: [] for host in layout.hosts_used(list(spec.hosts))}
    volumes: dict[str, list[str]] = {host: [] for host in services}
    for (engine, section), group in zip(engine_sections(spec), groups, strict=True):
        for host, hosted in replica_services(engine, section, group, layout.sections[engine.name], addresses,
                                             workspace):
            services[host].append(hosted)
            volumes[host] += host_volumes(engine, section, workspace)
    for host in services:
        gateway = spec.gateway if host == layout.front else None
        if host_replicas(groups, host) or gateway is not None:
            view = gate_view(host, addresses[host], groups, spec.balancer, source, gateway)
            services[host].append(gate_service(view, groups, spec.balancer.image,
                                               render_gate_conf(view, workspace.templates_dir)))
    confs = {group.engine: render_nginx_conf(front_view(group, spec, source), workspace.templates_dir)
             for group in groups}
    logs_mount = f"{monitoring.LOGS_VOLUME}:{monitoring.LOGS_DIR}" if spec.monitoring is not None else ""
    services[layout.front] += front_services(spec, groups, confs, logs_mount)
    if spec.monitoring is not None:
        services[layout.front] += monitoring_services(spec, groups, workspace.root / "monitoring" / "dashboards")
        volumes[layout.front] += monitoring.VOLUMES
    files = {host_file(host): host_document(HostCompose(host, spec.hosts[host].docker, tuple(placed),
                                                        tuple(dict.fromkeys(volumes[host]))), source)
             for host, placed in services.items()}
    return RenderedStack(groups=tuple(groups), files=files, gateway=spec.gateway is not None)
