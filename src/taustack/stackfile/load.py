"""Reading a stack file: YAML, CLI/Make overrides, validation; every error becomes one SpecError line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from taustack.engines import ENGINE_KINDS
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


def load_stack(path: Path, overrides: Mapping[str, tuple[Any, str]] | None = None,
               engine_overrides: Mapping[str, tuple[Any, str]] | None = None, engine: str | None = None) -> StackSpec:
    """Read, override and validate a stack file. Override keys are dotted (`ollama.gpus`); `engine_overrides`
    (`gpus`, `gpu_ids`, `replicas`) apply to the engine section `override_section` picks."""
    data = read_stack_file(path)
    dotted = dict(overrides or {})
    if engine_overrides:
        section = override_section(data, engine, [flag for _, flag in engine_overrides.values()])
        dotted.update({f"{section}.{key}": value for key, value in engine_overrides.items()})
    sources = apply_overrides(data, dotted)
    try:
        return StackSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, sources)) from None


def override_section(data: Mapping[str, Any], engine: str | None, flags: list[str]) -> str:
    """The section `--engine` names, else the file's only engine section; never one the file does not have."""
    given = ", ".join(flags)
    present = [name for name in ENGINE_KINDS if name in data]
    if engine in ENGINE_KINDS:
        if engine not in present:
            raise SpecError(f"{given}: the stack file has no {engine} section (it has: {', '.join(present) or 'none'})")
        return engine
    if len(present) == 1:
        return present[0]
    if not present:
        raise SpecError(f"{given}: the stack file has no engine section ({', '.join(ENGINE_KINDS)}) to apply it to")
    raise SpecError(f"{given}: the stack file has {len(present)} engine sections ({', '.join(present)}): "
                    f"name one with --engine {' or --engine '.join(present)}")


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
