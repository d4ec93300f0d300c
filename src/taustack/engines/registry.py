"""Engine kinds by name (one instance each), the engine of a replica group, and the engine sections a stack
file has."""

from __future__ import annotations

from typing import Any

from taustack.engines.base import Engine, ReplicaGroup
from taustack.engines.llamacpp import LlamacppEngine
from taustack.engines.ollama import OllamaEngine
from taustack.engines.vllm import VllmEngine
from taustack.stackfile.stack import StackSpec

ENGINES: dict[str, Engine] = {"ollama": OllamaEngine(), "llamacpp": LlamacppEngine(), "vllm": VllmEngine()}


def get_engine(name: str) -> Engine:
    """The engine kind `name` (a KeyError for any other)."""
    return ENGINES[name]


def engine_for(group: ReplicaGroup) -> Engine:
    """The engine that runs `group`'s replicas: how to probe, warm and route to them."""
    return ENGINES[group.engine]


def engine_sections(spec: StackSpec) -> list[tuple[Engine, Any]]:
    """The engines the spec has a section for, in a stable order, with their sections."""
    return [(get_engine(name), section) for name, section in spec.engine_sections()]
