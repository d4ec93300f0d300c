"""A resolved stack -> the set of files in compose/generated/ (pure: nothing is written here, nothing refused)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from taustack.engines.base import Engine, ReplicaGroup, bind_cores
from taustack.engines.registry import engine_sections
from taustack.render import litellm, monitoring
from taustack.render.compose import balancer_service, compose_document, router_service
from taustack.render.nginx import balancer_view, render_nginx_conf
from taustack.render.services import ComposeFile, ComposeService, config_digest
from taustack.stackfile.resolve import ResolvedStack
from taustack.stackfile.stack import StackSpec
from taustack.workspace import Workspace


@dataclass(frozen=True)
class RenderedStack:
    """The replica groups the spec describes and the files that run them."""

    groups: tuple[ReplicaGroup, ...]
    files: dict[str, str] = field(default_factory=dict)
    gateway: bool = False

    def group(self, engine: str) -> ReplicaGroup | None:
        return next((group for group in self.groups if group.engine == engine), None)


def render_stack(resolved: ResolvedStack, workspace: Workspace, stack_file: Path) -> RenderedStack:
    """Every file of the stack `resolve_stack` validated against this host; their headers name `stack_file`.

    The config files come first: each service is built knowing the hash of the files it mounts. A stack across
    hosts renders a compose file per host (render/hosts.py).
    """
    if resolved.layout is not None:
        from taustack.render.hosts import render_hosts

        return render_hosts(resolved, workspace, stack_file)
    spec = resolved.spec
    source = source_name(workspace, stack_file)
    sections = engine_sections(spec)
    groups = []
    files: dict[str, str] = {}
    for engine, section in sections:
        group = engine.build_group(section, resolved.devices(engine.name))
        group = bind_cores(group, resolved.cores.get(engine.name, ()))
        group = replace(group, router=spec.balancer.affinity_for(len(group.replicas)) == "router")
        groups.append(group)
        view = balancer_view(group, spec.balancer, source, monitoring=spec.monitoring is not None)
        files[nginx_file(group)] = render_nginx_conf(view, workspace.templates_dir)
    keys = {group.engine: group.key_env for group in groups if group.key_env}
    if spec.gateway is not None:
        by_engine = {group.engine: group for group in groups}
        config = litellm.litellm_config(spec.gateway, by_engine, keys)
        files[litellm.CONFIG_FILE] = litellm.config_document(config)
    if spec.monitoring is not None:
        files["monitoring/targets.json"] = monitoring.targets(groups)
        files["monitoring/prometheus.yml"] = monitoring.scrape_config(spec, spec.monitoring, groups)
        files.update(monitoring.grafana_files(spec.monitoring))
    compose = compose_file(spec, workspace, sections, groups, files, keys)
    if compose.services:
        files["compose.yaml"] = compose_document(compose, source)
    return RenderedStack(groups=tuple(groups), files=files, gateway=spec.gateway is not None)


def source_name(workspace: Workspace, stack_file: Path) -> str:
    """The stack file as the rendered headers name it: relative to the root when inside it, on one line."""
    return " ".join(workspace.from_root(stack_file).removeprefix("./").splitlines())


def nginx_file(group: ReplicaGroup) -> str:
    """Where a group's nginx.conf lies among the rendered files (and what its balancer mounts)."""
    return f"nginx/{group.engine}.conf"


def compose_file(spec: StackSpec, workspace: Workspace, sections: Sequence[tuple[Engine, Any]],
                 groups: Sequence[ReplicaGroup], files: Mapping[str, str], keys: Mapping[str, str]) -> ComposeFile:
    """Every service, in order: each group's replicas, its router, its balancer, the gateway, monitoring."""
    services: list[ComposeService] = []
    volumes: list[str] = []
    logs_mount = f"{monitoring.LOGS_VOLUME}:{monitoring.LOGS_DIR}" if spec.monitoring is not None else ""
    for (engine, section), group in zip(sections, groups, strict=True):
        services += engine.services(section, group, workspace)
        volumes += engine.volumes(section)
        conf_path = workspace.from_root(workspace.generated_dir / nginx_file(group))
        if group.router:
            services.append(router_service(group, spec.balancer.router, spec.balancer.read_timeout_s))
        services.append(balancer_service(group, spec.balancer, conf_path,
                                         config_digest(files, [nginx_file(group)]), logs_mount))
    if spec.gateway is not None:
        config_path = workspace.from_root(workspace.generated_dir / litellm.CONFIG_FILE)
        services.append(litellm.gateway_service(spec.gateway, groups, config_path,
                                                config_digest(files, [litellm.CONFIG_FILE]), keys))
    if spec.monitoring is not None:
        generated = workspace.from_root(workspace.generated_dir)
        dashboards = workspace.from_root(workspace.root / "monitoring" / "dashboards")
        services += monitoring.services(spec.monitoring, groups, generated, dashboards, files)
        volumes += monitoring.VOLUMES
    return ComposeFile(services=tuple(services), volumes=tuple(volumes))
