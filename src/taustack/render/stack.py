"""StackSpec -> the set of files in compose/generated/ (pure: nothing is written here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taustack.engines import ollama
from taustack.engines.base import ReplicaGroup
from taustack.gpus import Inventory, nvidia_smi_inventory
from taustack.render.compose_file import balancer_service, compose_document
from taustack.render.nginx import balancer_view, render_nginx_conf
from taustack.spec import StackSpec
from taustack.workspace import Workspace


@dataclass(frozen=True)
class RenderedStack:
    """The replica groups the spec describes and the files that run them."""

    groups: tuple[ReplicaGroup, ...]
    files: dict[str, str] = field(default_factory=dict)

    @property
    def profiles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(group.profile for group in self.groups))

    def group(self, engine: str) -> ReplicaGroup | None:
        return next((group for group in self.groups if group.engine == engine), None)


def build_groups(spec: StackSpec, inventory: Inventory = nvidia_smi_inventory) -> tuple[ReplicaGroup, ...]:
    groups = []
    if spec.ollama is not None:
        groups.append(ollama.build_group(spec.ollama, inventory))
    return tuple(groups)


def render_stack(
    spec: StackSpec, workspace: Workspace, inventory: Inventory = nvidia_smi_inventory
) -> RenderedStack:
    groups = build_groups(spec, inventory)
    files: dict[str, str] = {}
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    for group in groups:
        conf_name = f"nginx/{group.engine}.conf"
        files[conf_name] = render_nginx_conf(balancer_view(group, spec.balancer), workspace.templates_dir)
        if group.engine == ollama.ENGINE and spec.ollama is not None:
            for replica in group.replicas:
                services[replica.service] = ollama.replica_service(spec.ollama, replica)
            volumes.update(ollama.volumes())
        conf_path = workspace.from_root(workspace.generated_dir / conf_name)
        services[group.balancer_service] = balancer_service(group, spec.balancer, conf_path)
    if services:
        files["compose.yaml"] = compose_document(services, volumes)
    return RenderedStack(groups=groups, files=files)
