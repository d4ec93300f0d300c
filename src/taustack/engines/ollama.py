"""The Ollama engine: replica services, balancer routes, model names, pulls and warming, and what "ready" means
for a replica."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import httpx

from taustack.engines.base import (
    Replica,
    ReplicaGroup,
    ReplicaHealth,
    Routes,
    describe_http_error,
    place_group,
    replica_service,
)
from taustack.errors import TaustackError
from taustack.render.services import ComposeService
from taustack.stackfile.ollama import OllamaSpec
from taustack.workspace import Workspace

MODELS_VOLUME = "ollama-models"
WARM_TIMEOUT_S = 600


def model_key(name: str) -> str:
    """Ollama's canonical name: `qwen2.5` is `qwen2.5:latest` (a registry's port is not a tag)."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


class OllamaEngine:
    name = "ollama"
    routes = Routes(
        # inference changes no state: a request already sent to a replica that died may go to another
        inference_regex=r"^/(api/(chat|generate|embed|embeddings)|v1/(chat/completions|completions|embeddings))$",
        # anything that writes models must reach every replica: the controller does it, never the balancer; Go's
        # profiler (/debug/pprof: heap and goroutine dumps, CPU profiles of any length) stays inside. Any letter case
        # and a trailing slash too (Ollama's router redirects /api/pull/ to /api/pull)
        refused_regex=r"(?i)^/(api/(pull|push|delete|create|copy|blobs)|debug)(/|$)",
        refused_hint=json.dumps({"error": "model management and debugging are refused at the balancer; for "
                                          "models use: taustack pull MODEL"}),
        health_path="/api/version",
    )
    pulls_models = True

    def build_group(self, spec: OllamaSpec, devices: Sequence[tuple[str, ...]]) -> ReplicaGroup:
        return place_group(self.name, spec, spec.port, self.routes, self.served_models(spec), devices)

    def model_key(self, name: str) -> str:
        return model_key(name)

    def served_models(self, spec: OllamaSpec) -> tuple[str, ...]:
        """The models every replica must list, by their canonical names."""
        return tuple(model_key(name) for name in spec.models)

    def litellm_params(self, model: str, group: ReplicaGroup) -> dict[str, Any]:
        """`ollama_chat/` (the `ollama/` prefix drops tools), with an api_base without /v1."""
        return {"model": f"ollama_chat/{model}", "api_base": f"http://{group.balancer_service}:{group.port}"}

    def warm(self, replica: Replica, model: str) -> bool:
        """Load `model` on `replica` and keep it loaded (an empty generate with keep_alive -1)."""
        try:
            response = httpx.post(f"{replica.host_url}/api/generate", json={"model": model, "keep_alive": -1},
                                  timeout=WARM_TIMEOUT_S, trust_env=False)
        except httpx.HTTPError as exc:
            raise TaustackError(f"warm {model} on {replica.service}: {exc!r}") from None
        if response.status_code != 200:
            raise TaustackError(f"warm {model} on {replica.service}: answered {response.status_code}")
        return True

    def services(self, spec: OllamaSpec, group: ReplicaGroup, workspace: Workspace) -> list[ComposeService]:
        """One service per replica; the image has no curl, so `ollama list` is the healthcheck."""
        return [
            replica_service(
                group, replica, spec.image, ("CMD", "ollama", "list"), "3s",
                environment={"OLLAMA_HOST": f"0.0.0.0:{replica.port}", **spec.env.variables()},
                volumes=(f"{MODELS_VOLUME}:/root/.ollama",),
            )
            for replica in group.replicas
        ]

    def volumes(self, spec: OllamaSpec) -> tuple[str, ...]:
        """One models volume shared by every replica: a pull through one is seen by all."""
        return (MODELS_VOLUME,)

    def preflight(self, spec: OllamaSpec, workspace: Workspace) -> None:
        """Nothing to check on this host: models are pulled into the volume by `up`."""

    async def probe(self, client: httpx.AsyncClient, replica: Replica, deep: bool = False) -> ReplicaHealth:
        """Version, models on disk and models loaded, straight from the replica (not the balancer)."""
        started = time.perf_counter()
        try:
            version = (await client.get(f"{replica.host_url}/api/version")).raise_for_status().json()
            tags = (await client.get(f"{replica.host_url}/api/tags")).raise_for_status().json()
            loaded = (await client.get(f"{replica.host_url}/api/ps")).raise_for_status().json()
        except (httpx.HTTPError, ValueError) as exc:
            return ReplicaHealth(replica, answered=False, error=describe_http_error(exc))
        return ReplicaHealth(
            replica,
            answered=True,
            latency_s=time.perf_counter() - started,
            version=str(version.get("version", "")),
            models_on_disk=tuple(model_key(m["name"]) for m in tags.get("models") or []),
            models_loaded=tuple(model_key(m["name"]) for m in loaded.get("models") or []),
        )
