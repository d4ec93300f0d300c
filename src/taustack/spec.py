"""The stack file: strict pydantic models and one parse function that turns errors into one line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from taustack.errors import SpecError
from taustack.spec_gateway import GatewaySpec
from taustack.spec_monitoring import MonitoringSpec
from taustack.spec_types import (
    ENV_NAME_RE,
    OLLAMA_MODEL_RE,
    SIZE_RE,
    ImageRef,
    ModelName,
    Port,
    ReplicaGroupSpec,
    StrictModel,
)
from taustack.spec_vllm import VllmSpec
from taustack.yamlfile import read_yaml


class OllamaEnv(StrictModel):
    """The Ollama engine's settings, rendered as OLLAMA_* variables on every replica."""

    num_parallel: int = Field(4, ge=1, description="OLLAMA_NUM_PARALLEL: requests served at once per model")
    keep_alive: str = Field("-1", description="OLLAMA_KEEP_ALIVE: how long a model stays loaded (-1: forever)")
    context_length: int = Field(16384, ge=128, description="OLLAMA_CONTEXT_LENGTH in tokens")
    max_loaded_models: int = Field(1, ge=1, description="OLLAMA_MAX_LOADED_MODELS per replica")
    flash_attention: bool = Field(True, description="OLLAMA_FLASH_ATTENTION")
    max_queue: int = Field(512, ge=1, description="OLLAMA_MAX_QUEUE: queued requests before 503")
    extra: dict[str, str] = Field(default_factory=dict, description="any other variables, by full name")

    @field_validator("keep_alive")
    @classmethod
    def _keep_alive(cls, value: str) -> str:
        if not re.match(r"^-?\d+(\.\d+)?(ms|s|m|h)?$", value):
            raise ValueError(f"{value!r} is not a duration such as 5m, 24h or -1")
        return value

    @field_validator("extra")
    @classmethod
    def _extra(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not ENV_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return value

    def variables(self) -> dict[str, str]:
        """The environment of one replica, in a stable order."""
        env = {
            "OLLAMA_NUM_PARALLEL": str(self.num_parallel),
            "OLLAMA_KEEP_ALIVE": self.keep_alive,
            "OLLAMA_CONTEXT_LENGTH": str(self.context_length),
            "OLLAMA_MAX_LOADED_MODELS": str(self.max_loaded_models),
            "OLLAMA_FLASH_ATTENTION": "1" if self.flash_attention else "0",
            "OLLAMA_MAX_QUEUE": str(self.max_queue),
        }
        env.update(self.extra)
        return env


class OllamaSpec(ReplicaGroupSpec):
    """Ollama replicas behind one nginx port: a drop-in for a single Ollama."""

    image: ImageRef = Field("ollama/ollama:0.20.6", description="the engine image, pinned")
    env: OllamaEnv = Field(default_factory=OllamaEnv)
    models: list[str] = Field(default_factory=list, description="pulled on every replica by `up`")
    port: Port = Field(11434, description="the balancer's port; replica i listens on port+1+i")

    @field_validator("models")
    @classmethod
    def _models(cls, value: list[str]) -> list[str]:
        for name in value:
            if not OLLAMA_MODEL_RE.match(name):
                raise ValueError(f"{name!r} is not an Ollama model name such as qwen2.5:7b")
        return value


class LlamacppSpec(ReplicaGroupSpec):
    """llama.cpp's server (llama-server): the CPU engine, with layer offload when GPUs are given."""

    model: str = Field(..., description="a GGUF file on this host (relative to the project root), "
                                        "or volume:NAME.gguf for a file in the llamacpp-models volume")
    model_name: ModelName | None = Field(None, description="the name clients ask for (default: the file's stem)")
    image: ImageRef = Field("taustack/llamacpp:0.3.36", description="built by `make images` (llama.cpp "
                                                                     "from llama-cpp-python 0.3.36's sources)")
    server: Literal["llama-server", "llama-cpp-python"] = Field(
        "llama-server", description="llama-server (parallel slots, /metrics, tools from the GGUF's template) or "
                                    "llama-cpp-python's server (one request at a time; tool_choice forced by grammar)")
    chat_format: str | None = Field(None, description="llama-cpp-python only: its chat format "
                                                      "(default chatml-function-calling, which supports tools)")
    threads: int = Field(2, ge=1, description="CPU threads per replica")
    context_size: int = Field(8192, ge=128, description="tokens per slot (the server gets context_size x slots)")
    slots: int | None = Field(None, ge=1, description="requests each replica serves at once "
                                                      "(llama-server --parallel; default 2; llama-cpp-python: 1)")
    gpu_layers: int = Field(999, ge=0, description="layers offloaded when the replica has GPUs")
    port: Port = Field(8080, description="the balancer's port; replica i listens on port+1+i")
    extra_args: list[str] = Field(default_factory=list, description="more llama-server flags, passed as given")

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        name = value.removeprefix("volume:")
        if not name.endswith(".gguf") or not name.strip():
            raise ValueError(f"{value!r} is not a .gguf file")
        if value.startswith("volume:") and "/" in name:
            raise ValueError(f"{value!r}: a file in the models volume is named without folders")
        return value

    @model_validator(mode="after")
    def _server_options(self) -> LlamacppSpec:
        if self.server == "llama-cpp-python" and self.slots not in (None, 1):
            raise ValueError("slots: llama-cpp-python's server serves one request at a time; "
                             "use server: llama-server for parallel slots")
        if self.server == "llama-server" and self.chat_format is not None:
            raise ValueError("chat_format: only llama-cpp-python's server has chat formats; llama-server "
                             "uses the GGUF's chat template")
        return self

    def served_name(self) -> str:
        return self.model_name or Path(self.model.removeprefix("volume:")).stem

    def effective_slots(self) -> int:
        return self.slots or (2 if self.server == "llama-server" else 1)


class BalancerSpec(StrictModel):
    """nginx in front of every replica group: routing, timeouts and limits."""

    image: ImageRef = Field("nginx:1.28.0", description="the nginx image, pinned")
    strategy: Literal["least_conn", "round_robin"] = Field(
        "least_conn", description="how requests without an X-Session-ID pick a replica")
    read_timeout_s: int = Field(3600, ge=1, description="longest wait for a replica's next bytes")
    connect_timeout_s: int = Field(5, ge=1, description="time to open a connection to a replica")
    body_limit: str = Field("64m", description="largest request body (nginx size: 64m, 512k)")
    worker_connections: int = Field(8192, ge=512, description="connections per nginx worker")
    keepalive: int = Field(64, ge=0, description="idle upstream connections kept per worker")
    keepalive_timeout_s: int = Field(
        4, ge=1, description="how long an idle upstream connection is kept: below the engines' own idle timeout "
                             "(llama-server and vLLM's uvicorn close after 5 s), or a reused connection may be "
                             "closed under a request and the replica counted as failed")
    max_fails: int = Field(1, ge=0, description="failures before a replica is skipped for fail_timeout")
    fail_timeout_s: int = Field(5, ge=1, description="how long a failed replica is skipped")
    next_upstream_tries: int = Field(3, ge=1, description="replicas an inference request may try")

    @field_validator("body_limit")
    @classmethod
    def _body_limit(cls, value: str) -> str:
        if not SIZE_RE.match(value.lower()):
            raise ValueError(f"{value!r} is not an nginx size such as 64m")
        return value.lower()


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


def format_validation_error(error: ValidationError, sources: Mapping[str, str]) -> str:
    """All problems on one line, each as `field: message`, naming the override it came from."""
    parts = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"] if not str(part).startswith("function-"))
        field = re.sub(r"\.(int|str|bool|list\[str\])$", "", field)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        nested = re.match(r"^([a-z_]+): (.*)$", message)
        if nested and item["type"] == "value_error":  # a check across fields names the field it is about
            field, message = f"{field}.{nested.group(1)}" if field else nested.group(1), nested.group(2)
        origin = sources.get(field)
        parts.append(f"{field}: {message}" + (f" (from {origin})" if origin else ""))
    return "; ".join(dict.fromkeys(parts))


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
