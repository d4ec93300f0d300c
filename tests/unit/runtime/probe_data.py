"""Small replica groups and probe results for the runtime tests (no Docker, no network)."""

from __future__ import annotations

from taustack.engines.base import Replica, ReplicaGroup, ReplicaHealth, Routes

ROUTES = Routes(inference_regex="^/api/", refused_regex="^/api/pull", refused_hint="no", health_path="/api/version")


def group(engine: str = "ollama", replicas: int = 2, models: tuple[str, ...] = ("qwen2.5:0.5b",),
          port: int = 11434, devices: tuple[tuple[str, ...], ...] = ()) -> ReplicaGroup:
    return ReplicaGroup(
        engine=engine, port=port, bind="127.0.0.1", routes=ROUTES, models=models,
        replicas=tuple(Replica(engine, index, port + 1 + index, devices[index] if devices else ())
                       for index in range(replicas)),
    )


def healthy(replica: Replica, models: tuple[str, ...] = ("qwen2.5:0.5b",), **changes: object) -> ReplicaHealth:
    values: dict[str, object] = {"answered": True, "latency_s": 0.0123, "version": "0.9.0",
                                 "models_on_disk": models, "models_loaded": models[:1], **changes}
    return ReplicaHealth(replica, **values)  # type: ignore[arg-type]
