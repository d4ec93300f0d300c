"""The gateway section of the stack file: public model names, their routes, and LiteLLM's router."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from taustack.stackfile.base import BindAddress, EnvName, ImageRef, ModelName, Port, StrictModel

GatewayEngine = Literal["ollama", "llamacpp", "vllm", "openai", "anthropic", "together", "openai-compatible"]
PROVIDER_KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "together": "TOGETHERAI_API_KEY"}


class GatewayRoute(StrictModel):
    """One deployment behind a public model name; several with one name form a load-balanced group."""

    name: ModelName = Field(..., description="the public model name clients ask for")
    engine: GatewayEngine = Field(..., description="a local engine section, or an external provider")
    model: str = Field(..., description="the model's name at that engine or provider")
    api_base: str | None = Field(None, description="openai-compatible: the server's URL (ending in /v1)")
    api_key_env: EnvName | None = Field(None, description="variable holding the provider's key (never the key)")

    @model_validator(mode="after")
    def _provider_fields(self) -> GatewayRoute:
        if self.engine == "openai-compatible" and not self.api_base:
            raise ValueError("api_base: an openai-compatible route needs the server's URL")
        if self.api_base is not None and not re.match(r"^https?://[^\s]+$", self.api_base):
            raise ValueError(f"api_base: {self.api_base!r} is not an http(s) URL")
        if self.engine in ("ollama", "llamacpp", "vllm") and (self.api_base or self.api_key_env):
            raise ValueError("api_base: routes to local engines take their address from the stack")
        return self

    def key_variable(self) -> str | None:
        return self.api_key_env or PROVIDER_KEYS.get(self.engine)


class RouterSpec(StrictModel):
    """LiteLLM's router, with defaults for long agent episodes."""

    timeout_s: int = Field(3600, ge=1, description="a whole request, streaming included (episodes are long)")
    num_retries: int = Field(2, ge=0, description="retries of connection errors and 5xx before any token")
    allowed_fails: int = Field(3, ge=0, description="failures in a minute before a deployment cools down")
    cooldown_s: int = Field(30, ge=0, description="how long a failing deployment is left out")
    drop_params: bool = Field(True, description="drop OpenAI parameters an engine does not know")


class GatewaySpec(StrictModel):
    """LiteLLM on one OpenAI-compatible port, in front of every engine and external provider."""

    image: ImageRef = Field("taustack/gateway:1.106.2", description="built by `make images` from litellm[proxy]"
                                                                     " 1.106.2 (the official image works too)")
    port: Port = Field(4000, description="the gateway's port")
    bind: BindAddress = Field("127.0.0.1", description="address the port is published on")
    workers: int = Field(1, ge=1, le=64, description="proxy worker processes")
    models: list[GatewayRoute] = Field(..., min_length=1, description="public names and where they route")
    fallbacks: dict[str, list[str]] = Field(default_factory=dict, description="public name -> names to try next")
    router: RouterSpec = Field(default_factory=RouterSpec)

    @model_validator(mode="after")
    def _consistent(self) -> GatewaySpec:
        names = {route.name for route in self.models}
        seen: set[tuple[str, str, str, str | None]] = set()
        for route in self.models:
            key = (route.name, route.engine, route.model, route.api_base)
            if key in seen:
                raise ValueError(f"models: {route.name!r} lists the same deployment twice")
            seen.add(key)
        for name, targets in self.fallbacks.items():
            for target in [name, *targets]:
                if target not in names:
                    raise ValueError(f"fallbacks: {target!r} is not a model name of the gateway")
        return self
