"""The whole stack file: one optional section per engine, the gateway, monitoring and the balancer."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from taustack.stackfile.balancer import BalancerSpec
from taustack.stackfile.base import StrictModel
from taustack.stackfile.gateway import GatewaySpec
from taustack.stackfile.llamacpp import LlamacppSpec
from taustack.stackfile.monitoring import MonitoringSpec
from taustack.stackfile.ollama import OllamaSpec
from taustack.stackfile.vllm import VllmSpec


class StackSpec(StrictModel):
    """The one declarative file: which engines run, on which GPUs, behind which balancer."""

    ollama: OllamaSpec | None = None
    llamacpp: LlamacppSpec | None = None
    vllm: VllmSpec | None = None
    gateway: GatewaySpec | None = None
    monitoring: MonitoringSpec | None = None
    balancer: BalancerSpec = Field(default_factory=BalancerSpec)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """`ollama:` with nothing under it means the section with its defaults."""
        if isinstance(data, dict):
            return {key: ({} if value is None else value) for key, value in data.items()}
        return data
