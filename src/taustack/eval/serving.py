"""What the stack serves, as an eval sees it: the gateway (URL, names, key) and each model's serving fingerprint.

The fingerprint says what produced the tokens: engine and image, the model file's sha256 or Ollama's digest, the
tool-call and reasoning parser, the context size. Two runs that differ in any of these are different systems.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from taustack.eval.endpoints import Endpoint, Gateway
from taustack.runtime.gateway import gateway_url
from taustack.stackfile.base import published_url
from taustack.stackfile.stack import StackSpec
from taustack.workspace import Workspace


def load_stack(workspace: Workspace) -> tuple[StackSpec | None, str | None, str | None]:
    """(the last rendered stack, its master key, its API token); Nones when nothing was rendered."""
    from taustack.console import stderr_console
    from taustack.errors import TaustackError
    from taustack.runtime import lifecycle

    try:
        stack = lifecycle.last_render(workspace, None, {}, None, stderr_console())
    except TaustackError:
        return None, None, None
    return stack.spec, stack.master_key(), stack.api_token()


def gateway_of(spec: StackSpec | None, key: str | None) -> Gateway | None:
    if spec is None or spec.gateway is None:
        return None
    return Gateway(gateway_url(spec.gateway), tuple(dict.fromkeys(r.name for r in spec.gateway.models)),
                   key)


def sha256_of(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def ollama_digest(url: str, model: str, token: str | None) -> str | None:
    """The digest of `model` on the Ollama balancer at `url` (as published: see stackfile.base.published_url)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = httpx.get(f"{url}/api/tags", headers=headers, timeout=5, trust_env=False)
        for entry in answer.json().get("models", []):
            if entry.get("name") in (model, f"{model}:latest") or entry.get("model") == model:
                return str(entry.get("digest"))
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return None


def engine_fingerprint(spec: StackSpec, engine: str, model: str, root: Path, token: str | None) -> dict[str, Any]:
    """One engine section's facts about a model it serves."""
    if engine == "llamacpp" and spec.llamacpp is not None:
        llama = spec.llamacpp
        path = Path(llama.model) if Path(llama.model).is_absolute() else root / llama.model
        return {"engine": "llamacpp", "image": llama.image, "server": llama.server, "model_file": llama.model,
                "sha256": sha256_of(path), "chat_format": llama.chat_format, "context_size": llama.context_size,
                "tool_call_parser": "llama-cpp-python grammar" if llama.server == "llama-cpp-python" else "jinja"}
    if engine == "ollama" and spec.ollama is not None:
        ollama = spec.ollama
        digest = ollama_digest(published_url(ollama.bind, ollama.port), model, token)
        return {"engine": "ollama", "image": ollama.image, "model": model, "digest": digest,
                "context_size": ollama.env.context_length,
                "tool_call_parser": "ollama (the model's template)"}
    if engine == "vllm" and spec.vllm is not None:
        vllm = spec.vllm
        return {"engine": "vllm", "image": vllm.image, "model": vllm.model, "digest": None,
                "tool_call_parser": vllm.tool_call_parser, "reasoning_parser": vllm.reasoning_parser,
                "context_size": vllm.max_model_len, "quantization": vllm.quantization}
    return {"engine": engine, "model": model, "note": "an external provider: nothing known of how it serves"}


def fingerprint(endpoint: Endpoint, spec: StackSpec | None, root: Path, token: str | None) -> dict[str, Any]:
    """The serving fingerprint of an endpoint's model, or why there is none."""
    if spec is None:
        return {"note": "no stack rendered here: not known"}
    if endpoint.via == "gateway" and spec.gateway is not None:
        routes = [r for r in spec.gateway.models if r.name == endpoint.name]
        return {"gateway": spec.gateway.image,
                "deployments": [engine_fingerprint(spec, r.engine, r.model, root, token) for r in routes]}
    port = urlparse(endpoint.base_url).port
    for name, section in (("ollama", spec.ollama), ("llamacpp", spec.llamacpp), ("vllm", spec.vllm)):
        if section is not None and port == section.port:
            return engine_fingerprint(spec, name, endpoint.name, root, token)
    return {"note": f"{endpoint.base_url} is not a balancer of this stack: not known"}
