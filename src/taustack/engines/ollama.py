"""The Ollama engine: replica services, balancer routes, and what "ready" means for a replica."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from taustack.engines.base import Replica, ReplicaGroup, ReplicaHealth, Routes, replica_ports
from taustack.gpus import Inventory, nvidia_smi_inventory, place_replicas
from taustack.spec import OllamaSpec

ENGINE = "ollama"
MODELS_VOLUME = "ollama-models"
ROUTES = Routes(
    # inference changes no state: a request already sent to a replica that died may go to another
    inference_regex=r"^/(api/(chat|generate|embed|embeddings)|v1/(chat/completions|completions|embeddings))$",
    # anything that writes models must reach every replica: the controller does it, never the balancer
    refused_regex=r"^/api/(pull|push|delete|create|copy|blobs/.*)$",
    refused_hint=json.dumps(
        {"error": "model management is refused at the balancer; use: taustack pull MODEL"}
    ),
    health_path="/api/version",
)


def build_group(spec: OllamaSpec, inventory: Inventory = nvidia_smi_inventory) -> ReplicaGroup:
    """Place replicas on GPUs and give each its port."""
    placement = place_replicas(
        "ollama", spec.gpus, spec.gpu_ids, spec.gpus_per_replica, spec.replicas, inventory
    )
    ports = replica_ports(spec.port, len(placement), "ollama.port")
    replicas = tuple(
        Replica(group=ENGINE, index=index, port=port, devices=devices)
        for index, (port, devices) in enumerate(zip(ports, placement, strict=True))
    )
    return ReplicaGroup(
        engine=ENGINE, profile=ENGINE, port=spec.port, bind=spec.bind, replicas=replicas, routes=ROUTES
    )


def gpu_reservation(devices: tuple[str, ...]) -> dict[str, Any]:
    """Compose's way to pin a container to GPUs: device ids as strings, capabilities required."""
    return {
        "resources": {
            "reservations": {
                "devices": [{"driver": "nvidia", "device_ids": list(devices), "capabilities": ["gpu"]}]
            }
        }
    }


def replica_service(spec: OllamaSpec, replica: Replica) -> dict[str, Any]:
    """The compose service of one replica; the image has no curl, so `ollama list` is the healthcheck."""
    service: dict[str, Any] = {
        "image": spec.image,
        "profiles": [ENGINE],
        "restart": "unless-stopped",
        "environment": {"OLLAMA_HOST": f"0.0.0.0:{replica.port}", **spec.env.variables()},
        "volumes": [f"{MODELS_VOLUME}:/root/.ollama"],
        "ports": [f"127.0.0.1:{replica.port}:{replica.port}"],
        "healthcheck": {
            "test": ["CMD", "ollama", "list"],
            "interval": "3s",
            "timeout": "5s",
            "retries": 5,
            "start_period": "120s",
        },
        "labels": {
            "io.taustack.engine": ENGINE,
            "io.taustack.replica": str(replica.index),
            "io.taustack.gpus": replica.gpus_label,
        },
    }
    if replica.devices:
        service["deploy"] = gpu_reservation(replica.devices)
    return service


def volumes() -> dict[str, Any]:
    """One models volume shared by every replica: a pull through one is seen by all."""
    return {MODELS_VOLUME: {}}


def model_key(name: str) -> str:
    """Ollama's canonical name: `qwen2.5` is `qwen2.5:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


async def probe(client: httpx.AsyncClient, replica: Replica) -> ReplicaHealth:
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


def missing_models(health: ReplicaHealth, wanted: list[str]) -> list[str]:
    return [name for name in wanted if model_key(name) not in health.models_on_disk]


def describe_http_error(exc: Exception) -> str:
    """A short reason for a failed probe: refused, timed out, or the status it answered."""
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"answered {exc.response.status_code}"
    return type(exc).__name__
