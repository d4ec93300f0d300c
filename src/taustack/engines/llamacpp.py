"""The llama.cpp engine (llama-server): CPU replicas by default, layer offload when GPUs are given."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from taustack.engines.base import (
    Replica,
    ReplicaGroup,
    ReplicaHealth,
    Routes,
    describe_http_error,
    gauge_sum,
    place_group,
    replica_service,
)
from taustack.gguf.check import check_gguf
from taustack.render.services import ComposeService
from taustack.stackfile.llamacpp import LlamacppSpec
from taustack.workspace import Workspace

MODELS_VOLUME = "llamacpp-models"
VOLUME_PREFIX = "volume:"


def model_path(spec: LlamacppSpec, workspace: Workspace) -> Path | None:
    """The GGUF on this host, or None when it lives in the models volume."""
    if spec.model.startswith(VOLUME_PREFIX):
        return None
    path = Path(spec.model)
    return path if path.is_absolute() else workspace.root / path


HEALTH_PATHS = {"llama-server": "/health", "llama-cpp-python": "/v1/models"}


class LlamacppEngine:
    name = "llamacpp"
    routes = Routes(
        inference_regex=(
            r"^/((v1/)?(chat/completions|completions|embeddings|rerank)|"
            r"completion|embedding|infill|tokenize|detokenize|apply-template)$"
        ),
        # slot save/restore/erase and adapter switching change a replica's state: never through the balancer
        refused_regex=r"(?i)^/(slots|lora-adapters)",
        refused_hint=json.dumps({"error": "slot and adapter management is refused at the balancer; "
                                          "reach a replica directly"}),
        health_path="/health",
    )
    pulls_models = False

    def build_group(self, spec: LlamacppSpec, devices: Sequence[tuple[str, ...]]) -> ReplicaGroup:
        # llama-server (b6xxx, as vendored in llama-cpp-python 0.3.36) closes some kept-alive connections right
        # after a streamed answer, without `Connection: close`; measured: 20 of 84 replayed tau2 turns failed on
        # a reused connection. A new connection per request costs well under a millisecond.
        # llama-server exports /metrics (--metrics); llama-cpp-python's server has none
        native = spec.server == "llama-server"
        routes = replace(self.routes, health_path=HEALTH_PATHS[spec.server], reuse_connections=not native,
                         metrics_path="/metrics" if native else None)
        group = place_group(self.name, spec, spec.port, routes, self.served_models(spec), devices)
        parser = "jinja (llama-server)" if native else "grammar (llama-cpp-python)"
        return replace(group, tool_check=spec.tool_check, tool_parser=parser)

    def model_key(self, name: str) -> str:
        return name

    def served_models(self, spec: LlamacppSpec) -> tuple[str, ...]:
        return (spec.served_name(),)

    def litellm_params(self, model: str, group: ReplicaGroup) -> dict[str, Any]:
        """llama.cpp's OpenAI API (`openai/`, /v1); it takes no key, but LiteLLM's OpenAI client wants one."""
        return {"model": f"openai/{model}", "api_base": f"http://{group.balancer_service}:{group.port}/v1",
                "api_key": "no-key"}

    def warm(self, replica: Replica, model: str) -> bool:
        """Nothing to warm: llama-server loads its model at start."""
        return False

    def preflight(self, spec: LlamacppSpec, workspace: Workspace) -> None:
        """A missing or corrupt GGUF stops `up` before any container starts."""
        path = model_path(spec, workspace)
        if path is not None:
            check_gguf(path)

    def command(self, spec: LlamacppSpec, replica: Replica) -> tuple[list[str] | None, list[str]]:
        """(entrypoint, args). llama-server is the image's own entrypoint, as in llama.cpp's images
        (ghcr.io/ggml-org/llama.cpp:server-cuda for GPUs), so it is not overridden."""
        model = f"/models/{Path(spec.model.removeprefix(VOLUME_PREFIX)).name}"
        layers = str(spec.gpu_layers if replica.devices else 0)
        if spec.server == "llama-cpp-python":
            return ["python3", "-m", "llama_cpp.server"], [
                "--model", model, "--model_alias", spec.served_name(), "--host", "0.0.0.0",
                "--port", str(replica.port), "--n_ctx", str(spec.context_size), "--n_threads", str(spec.threads),
                "--n_gpu_layers", layers, "--chat_format", spec.chat_format or "chatml-function-calling",
                # its default ends a running stream whenever another request (a healthcheck too) arrives
                "--interrupt_requests", "False",
                *spec.extra_args,
            ]
        slots = spec.effective_slots()
        return None, [
            "--model", model, "--alias", spec.served_name(), "--host", "0.0.0.0", "--port", str(replica.port),
            "--ctx-size", str(spec.context_size * slots), "--parallel", str(slots), "--threads", str(spec.threads),
            "--n-gpu-layers", layers, "--jinja", "--metrics", *spec.extra_args,
        ]

    def services(self, spec: LlamacppSpec, group: ReplicaGroup, workspace: Workspace) -> list[ComposeService]:
        path = model_path(spec, workspace)
        if path is None:
            mount = f"{MODELS_VOLUME}:/models:ro"
        else:
            mount = f"{workspace.from_root(path)}:/models/{path.name}:ro"
        services = []
        for replica in group.replicas:
            entrypoint, args = self.command(spec, replica)
            health = f"http://127.0.0.1:{replica.port}{group.routes.health_path}"
            services.append(replica_service(
                group, replica, spec.image, ("CMD", "curl", "-fsS", "-o", "/dev/null", health), "2s",
                entrypoint=tuple(entrypoint or ()), command=tuple(args), volumes=(mount,),
            ))
        return services

    def volumes(self, spec: LlamacppSpec) -> tuple[str, ...]:
        return (MODELS_VOLUME,) if spec.model.startswith(VOLUME_PREFIX) else ()

    async def probe(self, client: httpx.AsyncClient, replica: Replica, deep: bool = False) -> ReplicaHealth:
        """The model list (and /health where the server has one); `deep` adds one real completion."""
        started = time.perf_counter()
        try:
            health = await client.get(f"{replica.host_url}/health")
            if health.status_code not in (200, 404):  # 404: llama-cpp-python has no /health
                health.raise_for_status()
            listed = (await client.get(f"{replica.host_url}/v1/models")).raise_for_status().json()
            names = tuple(str(entry["id"]) for entry in listed.get("data") or [])
            if deep and names:
                body = {"model": names[0], "messages": [{"role": "user", "content": "ready?"}], "max_tokens": 1}
                answer = await client.post(f"{replica.host_url}/v1/chat/completions", json=body)
                answer.raise_for_status()
                if not answer.json().get("choices"):
                    return ReplicaHealth(replica, answered=False, error="completion without choices")
            props = await client.get(f"{replica.host_url}/props")
            native = props.status_code == 200  # llama-server (llama-cpp-python has no /props and no /metrics)
            version = str(props.json().get("build_info", "")) if native else "llama-cpp-python"
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return ReplicaHealth(replica, answered=False, error=describe_http_error(exc))
        in_flight = await gauge_sum(client, f"{replica.host_url}/metrics", "llamacpp:requests_processing") \
            if native else None
        return ReplicaHealth(
            replica, answered=True, latency_s=time.perf_counter() - started, version=version,
            models_on_disk=names, models_loaded=names, in_flight=in_flight,
        )
