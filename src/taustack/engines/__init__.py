"""One module per engine kind: image, command, health probe, readiness, balancer routes."""

from __future__ import annotations

from typing import Any

from taustack.engines.base import Engine
from taustack.engines.llamacpp import LlamacppEngine
from taustack.engines.ollama import OllamaEngine
from taustack.engines.vllm import VllmEngine
from taustack.spec import StackSpec

ENGINE_KINDS: tuple[str, ...] = ("ollama", "llamacpp", "vllm")


def get_engine(name: str) -> Engine:
    if name == "ollama":
        return OllamaEngine()
    if name == "llamacpp":
        return LlamacppEngine()
    if name == "vllm":
        return VllmEngine()
    raise KeyError(name)


def engine_sections(spec: StackSpec) -> list[tuple[Engine, Any]]:
    """The engines the spec has a section for, in a stable order, with their sections."""
    return [(get_engine(name), getattr(spec, name)) for name in ENGINE_KINDS if getattr(spec, name) is not None]
