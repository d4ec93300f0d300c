"""The one step between a validated spec and rendering: what only this host can say (GPUs, keys, config.json).

Validation (the models' validators) checks everything the file alone decides; `resolve_stack` looks up the rest,
so rendering a ResolvedStack never fails on the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from taustack.engines.cpus import CoreInventory, host_cores
from taustack.engines.gpus import Inventory
from taustack.errors import SpecError
from taustack.planner.layout import find_config
from taustack.stackfile.conflicts import check_shared
from taustack.stackfile.cores import RankCores, place_cores
from taustack.stackfile.gpus import Placement, nvidia_smi_inventory
from taustack.stackfile.spread import HostLayout, place_host_cores, place_hosts
from taustack.stackfile.stack import StackSpec
from taustack.stackfile.vllm import VllmSpec


@dataclass(frozen=True)
class ResolvedStack:
    """A validated spec and what the host said about it: the devices of every replica, by engine section, and the
    cores of each rank of the sections that bind them (vLLM on the CPU)."""

    spec: StackSpec
    placements: Mapping[str, Placement]
    cores: Mapping[str, RankCores] = field(default_factory=dict)
    layout: HostLayout | None = None  # with a hosts: section: each replica's nodes, their hosts, GPUs and cores

    def devices(self, engine: str) -> Placement:
        return self.placements[engine]


def resolve_stack(
    spec: StackSpec, environment: Mapping[str, str] | None = None, inventory: Inventory = nvidia_smi_inventory,
    core_inventory: CoreInventory = host_cores,
) -> ResolvedStack:
    """Place `gpus: all` on the inventory (then no GPU or port may be used twice) and vLLM's CPU ranks on this host's
    cores, check vLLM's layout against a cached config.json and that every provider key is set (`environment`: the
    process environment and .env). Errors are SpecErrors naming the field."""
    if spec.hosts is not None:
        layout = place_host_cores(spec, place_hosts(spec), core_inventory)
        placements = {name: layout.head_devices(name) for name in layout.sections}
        cores: Mapping[str, RankCores] = {}
    else:
        layout = None
        placements = {name: spec.placement(name, inventory) for name, _ in spec.engine_sections()}
        check_shared(spec, placements)
        cores = place_cores(spec, core_inventory)
    if spec.vllm is not None and spec.vllm.config is None:
        check_cached_layout(spec.vllm)
    check_keys(spec, environment or {})
    return ResolvedStack(spec=spec, placements=placements, cores=cores, layout=layout)


def check_cached_layout(vllm: VllmSpec) -> None:
    """Refuse a TP/PP the model cannot take when its config.json is on this host; nothing to check otherwise."""
    try:
        path: Path = find_config(vllm.model)
    except SpecError:
        return
    problem = vllm.layout_problem(path)
    if problem:
        raise SpecError(f"vllm.{problem}")


def check_keys(spec: StackSpec, environment: Mapping[str, str]) -> None:
    """Every route that needs a key names a variable set in the environment or .env."""
    if spec.gateway is None:
        return
    for index, route in enumerate(spec.gateway.models):
        variable = route.key_variable()
        if variable and not environment.get(variable):
            raise SpecError(f"gateway.models.{index}.api_key_env: {variable} is not set (in the environment or .env)")
