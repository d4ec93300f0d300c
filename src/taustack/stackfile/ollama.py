"""The ollama section of the stack file: Ollama replicas and their OLLAMA_* settings."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from taustack.stackfile.base import ENV_NAME_RE, OLLAMA_MODEL_RE, ImageRef, Port, ReplicaGroupSpec, StrictModel


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
