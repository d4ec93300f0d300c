"""Reading a stack file: YAML, CLI/Make overrides, validation; every error becomes one SpecError line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from taustack.errors import SpecError
from taustack.fileio import read_yaml
from taustack.stackfile.base import format_validation_error
from taustack.stackfile.stack import StackSpec


def read_stack_file(path: Path) -> dict[str, Any]:
    """The raw mapping in a stack file; a missing file or bad YAML is a SpecError."""
    data = read_yaml(path, "stack file", SpecError)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(f"{path}: the stack file must be a mapping of sections (ollama:, llamacpp:, balancer:)")
    return data


def load_stack(path: Path, overrides: Mapping[str, tuple[Any, str]] | None = None) -> StackSpec:
    """Read, override and validate a stack file. Override keys are dotted (`ollama.gpus`)."""
    data = read_stack_file(path)
    sources = apply_overrides(data, overrides or {})
    try:
        return StackSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, sources)) from None


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, tuple[Any, str]]) -> dict[str, str]:
    """Put CLI/Make overrides into the raw mapping; returns field -> the flag that set it.

    A GPU override replaces the file's whole GPU choice: `--gpus` clears `gpu_ids` and the reverse,
    and `--replicas` alone lets the GPUs per replica follow from it.
    """
    sources: dict[str, str] = {}
    for dotted, (value, flag) in overrides.items():
        section_name, key = dotted.split(".", 1)
        section = data.setdefault(section_name, {})
        if section is None:
            section = data[section_name] = {}
        if not isinstance(section, dict):
            raise SpecError(f"{section_name}: must be a mapping")
        section[key] = value
        sources[dotted] = flag
        if key == "gpus":
            section.pop("gpu_ids", None)
        elif key == "gpu_ids":
            section.pop("gpus", None)
        if key in ("gpus", "gpu_ids", "replicas") and f"{section_name}.gpus_per_replica" not in overrides:
            section.pop("gpus_per_replica", None)
    return sources
