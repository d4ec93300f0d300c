"""Which OpenAI-compatible endpoint answers for a model: the stack's gateway by name, a balancer, or any base URL.

A resolved endpoint carries its key's value for this process only; what is recorded (manifest, tau2's llm_args)
names the endpoint and its sampling args, never the key. Sampling args are merged into tau2's defaults.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from taustack.errors import TaustackError

DEFAULT_ARGS: dict[str, Any] = {"temperature": 0.0}  # tau2's default, which --agent-llm-args would replace


@dataclass(frozen=True)
class ModelChoice:
    """A model as the command line names it: --X-model NAME [--X-url URL --X-key-env VAR] [--X-args JSON]."""

    role: str  # agent, user, judge
    name: str
    url: str | None = None
    key_env: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """A model at one endpoint: what tau2 calls (litellm's `openai/<name>` at base_url) and with which args."""

    role: str
    name: str
    base_url: str
    args: dict[str, Any]
    via: str  # "gateway", or "url"
    key: str | None = field(default=None, repr=False, compare=False)

    @property
    def litellm_model(self) -> str:
        return f"openai/{self.name}"

    def llm_args(self) -> dict[str, Any]:
        """tau2's llm_args: the defaults, the user's args on top, and where to send it; never a key."""
        return {**DEFAULT_ARGS, **self.args, "api_base": self.base_url}

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.litellm_model, "base_url": self.base_url, "via": self.via,
                "args": {**DEFAULT_ARGS, **self.args}}


def parse_args_json(role: str, text: str | None) -> dict[str, Any]:
    """--X-args: a JSON object of sampling args (temperature, max_tokens, top_p, ...), merged into the defaults."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaustackError(f"--{role}-args: not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, dict):
        raise TaustackError(f"--{role}-args: a JSON object is needed, like '{{\"temperature\": 0.7}}'")
    for forbidden in ("api_key", "api_base", "base_url"):
        if forbidden in value:
            raise TaustackError(f"--{role}-args: {forbidden} has its own option (--{role}-url, --{role}-key-env)")
    return value


def base_url_of(role: str, url: str) -> str:
    """A server's OpenAI base URL: `http://host:port` gets `/v1`; a trailing /chat/completions is dropped."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise TaustackError(f"--{role}-url: {url!r} is not an http(s) URL")
    path = parsed.path.rstrip("/").removesuffix("/chat/completions")
    return f"{parsed.scheme}://{parsed.netloc}{path or '/v1'}"


@dataclass(frozen=True)
class Gateway:
    """The stack's gateway as this host reaches it: its URL, public model names and master key."""

    url: str
    models: tuple[str, ...]
    key: str | None = field(repr=False)


def resolve(choice: ModelChoice, gateway: Gateway | None, variables: Mapping[str, str] | None = None) -> Endpoint:
    """The endpoint for a choice: its own URL when given, else the stack's gateway (which must know the name).

    A --X-key-env variable is looked up in `variables` (the stack's .env under the environment), else the
    environment."""
    if choice.url is not None:
        key = None
        if choice.key_env:
            key = (os.environ if variables is None else variables).get(choice.key_env)
            if not key:
                raise TaustackError(f"--{choice.role}-key-env {choice.key_env}: the variable is not set "
                                    f"(in the environment or the stack's .env)")
        return Endpoint(choice.role, choice.name, base_url_of(choice.role, choice.url), choice.args, "url", key)
    if gateway is None:
        raise TaustackError(f"--{choice.role}-model {choice.name}: the stack has no gateway (run taustack up with "
                            f"a gateway section), so give the endpoint with --{choice.role}-url")
    if choice.name not in gateway.models:
        raise TaustackError(f"--{choice.role}-model {choice.name}: not a model of the gateway "
                            f"(it serves {', '.join(gateway.models)})")
    return Endpoint(choice.role, choice.name, f"{gateway.url}/v1", choice.args, "gateway", gateway.key)
