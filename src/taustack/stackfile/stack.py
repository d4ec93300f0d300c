"""The whole stack file: one optional section per engine, the gateway, monitoring and the balancer."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from taustack.engines import ENGINE_KINDS
from taustack.engines.gpus import Inventory
from taustack.stackfile.balancer import BalancerSpec
from taustack.stackfile.base import StrictModel
from taustack.stackfile.conflicts import check_shared
from taustack.stackfile.gateway import GatewaySpec
from taustack.stackfile.gpus import Placement, needs_inventory, place_section
from taustack.stackfile.hosts import HostSpec
from taustack.stackfile.llamacpp import LlamacppSpec
from taustack.stackfile.monitoring import MonitoringSpec
from taustack.stackfile.ollama import OllamaSpec
from taustack.stackfile.vllm import VllmSpec

EngineSection = OllamaSpec | LlamacppSpec | VllmSpec


def no_inventory() -> list[str]:
    raise AssertionError("validation never asks the GPU inventory: `gpus: all` is placed by resolve_stack")


class StackSpec(StrictModel):
    """The one declarative file: which engines run, on which GPUs, behind which balancer."""

    ollama: OllamaSpec | None = None
    llamacpp: LlamacppSpec | None = None
    vllm: VllmSpec | None = None
    gateway: GatewaySpec | None = None
    monitoring: MonitoringSpec | None = None
    balancer: BalancerSpec = Field(default_factory=BalancerSpec)
    hosts: dict[str, HostSpec] | None = Field(None, description="several hosts: each one's Docker Engine and private "
                                                                "address; without it everything runs on this host")

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """`ollama:` with nothing under it means the section with its defaults."""
        if isinstance(data, dict):
            return {key: ({} if value is None else value) for key, value in data.items()}
        return data

    @model_validator(mode="after")
    def _placements(self) -> StackSpec:
        """Every section's replicas fit its GPUs and ports, and no GPU serves two sections (unless one shares it on
        purpose) nor any port two uses; `gpus: all` waits for the inventory (resolve_stack checks it). With hosts,
        the same per host (stackfile.spread)."""
        from taustack.stackfile.spread import check_hosts

        if check_hosts(self):
            return self
        check_shared(self, {name: self.placement(name, no_inventory) for name, section in self.engine_sections()
                            if not needs_inventory(section.gpus, section.gpu_ids)})
        return self

    @model_validator(mode="after")
    def _routes(self) -> StackSpec:
        """Every gateway route to a local engine finds its section, serving the route's model."""
        if self.gateway is None:
            return self
        # the engines import these models: asked here, when the spec validates, not when this module loads
        from taustack.engines.registry import get_engine

        for index, route in enumerate(self.gateway.models):
            if route.engine not in ENGINE_KINDS:
                continue
            field = f"gateway.models.{index}"
            section = getattr(self, route.engine)
            if section is None:
                raise ValueError(f"{field}.engine: the stack has no {route.engine} section for {route.name!r}")
            engine = get_engine(route.engine)
            served = engine.served_models(section)
            if engine.model_key(route.model) not in served:
                listed = ", ".join(sorted(set(served))) or "nothing"
                raise ValueError(f"{field}.model: {route.engine} does not serve {route.model!r} (it serves {listed})")
        return self

    def engine_sections(self) -> list[tuple[str, EngineSection]]:
        """The engine sections the file has, by name, in a stable order."""
        sections: list[tuple[str, EngineSection | None]] = [(name, getattr(self, name)) for name in ENGINE_KINDS]
        return [(name, section) for name, section in sections if section is not None]

    def placement(self, name: str, inventory: Inventory) -> Placement:
        """The devices of each replica of section `name`; a PlacementError names the field."""
        section: EngineSection = getattr(self, name)
        return place_section(name, section, section.port, inventory)
