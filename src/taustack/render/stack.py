"""A resolved stack -> the set of files in compose/generated/ (pure: nothing is written here, nothing refused)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from taustack.engines.base import ReplicaGroup
from taustack.engines.registry import engine_sections
from taustack.render import litellm, monitoring
from taustack.render.compose import balancer_service, compose_document
from taustack.render.nginx import balancer_view, render_nginx_conf
from taustack.stackfile.resolve import ResolvedStack
from taustack.workspace import Workspace


@dataclass(frozen=True)
class RenderedStack:
    """The replica groups the spec describes and the files that run them."""

    groups: tuple[ReplicaGroup, ...]
    files: dict[str, str] = field(default_factory=dict)
    gateway: bool = False

    def group(self, engine: str) -> ReplicaGroup | None:
        return next((group for group in self.groups if group.engine == engine), None)


def mark_config_versions(services: dict[str, Any], files: Mapping[str, str],
                         mounted: Mapping[str, list[str]]) -> None:
    """Label each service with a hash of the rendered files it mounts. A file mount keeps the file it was given
    (a rewrite is a new file), so a changed config must recreate its container: a changed label does that."""
    for service, names in mounted.items():
        if service in services and names:
            digest = hashlib.sha256("".join(files[name] for name in sorted(names)).encode()).hexdigest()[:16]
            services[service].setdefault("labels", {})["io.taustack.config"] = digest


def render_stack(resolved: ResolvedStack, workspace: Workspace) -> RenderedStack:
    """Every file of the stack `resolve_stack` validated against this host."""
    spec = resolved.spec
    groups = []
    files: dict[str, str] = {}
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    for engine, section in engine_sections(spec):
        group = engine.build_group(section, resolved.devices(engine.name))
        groups.append(group)
        conf_name = f"nginx/{group.engine}.conf"
        view = balancer_view(group, spec.balancer, monitoring=spec.monitoring is not None)
        files[conf_name] = render_nginx_conf(view, workspace.templates_dir)
        services.update(engine.services(section, group, workspace))
        volumes.update(engine.volumes(section))
        conf_path = workspace.from_root(workspace.generated_dir / conf_name)
        services[group.balancer_service] = balancer_service(group, spec.balancer, conf_path)
        if spec.monitoring is not None:
            services[group.balancer_service]["volumes"].append(f"{monitoring.LOGS_VOLUME}:{monitoring.LOGS_DIR}")
    if spec.gateway is not None:
        by_engine = {group.engine: group for group in groups}
        keys = {"vllm": spec.vllm.api_key_env} if spec.vllm is not None and spec.vllm.api_key_env else {}
        config = litellm.litellm_config(spec.gateway, by_engine, keys)
        files[litellm.CONFIG_FILE] = litellm.config_document(config)
        config_path = workspace.from_root(workspace.generated_dir / litellm.CONFIG_FILE)
        services[litellm.SERVICE] = litellm.gateway_service(spec.gateway, groups, config_path, keys)
    if spec.monitoring is not None:
        files["monitoring/targets.json"] = monitoring.targets(groups)
        files["monitoring/prometheus.yml"] = monitoring.scrape_config(spec, spec.monitoring, groups)
        files.update(monitoring.grafana_files(spec.monitoring))
        generated = workspace.from_root(workspace.generated_dir)
        dashboards = workspace.from_root(workspace.root / "monitoring" / "dashboards")
        services.update(monitoring.services(spec.monitoring, groups, generated, dashboards))
        volumes.update({monitoring.LOGS_VOLUME: {}, "prometheus-data": {}})
    mark_config_versions(services, files, {
        **{group.balancer_service: [f"nginx/{group.engine}.conf"] for group in groups},
        litellm.SERVICE: [litellm.CONFIG_FILE],
        "exporter": ["monitoring/targets.json"],
        "prometheus": ["monitoring/prometheus.yml"],
        "grafana": [name for name in files if name.startswith("monitoring/grafana/")],
    })
    if services:
        files["compose.yaml"] = compose_document(services, volumes)
    return RenderedStack(groups=tuple(groups), files=files, gateway=spec.gateway is not None)
