"""Engine kinds by name, and the engine sections a stack file has."""

from __future__ import annotations

from typing import Any

from taustack.engines import ENGINE_KINDS
from taustack.engines.base import Engine
from taustack.engines.llamacpp import LlamacppEngine
from taustack.engines.ollama import OllamaEngine
from taustack.engines.vllm import VllmEngine
from taustack.stackfile.stack import StackSpec


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
