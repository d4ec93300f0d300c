"""Compose services as typed views, and the one serializer that turns them into a compose document."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CONFIG_LABEL = "io.taustack.config"

# compose keys in the order they are written; `order` on a service may name another order of the same keys
KEY_ORDER: tuple[str, ...] = (
    "image", "profiles", "restart", "entrypoint", "command", "environment", "volumes", "ipc", "cpuset", "ulimits",
    "ports", "depends_on", "healthcheck", "labels", "deploy",
)


@dataclass(frozen=True)
class Healthcheck:
    """Compose's healthcheck: the test argv and its timings."""

    test: tuple[str, ...]
    interval: str
    timeout: str = "5s"
    retries: int = 5
    start_period: str = "120s"

    def to_compose(self) -> dict[str, Any]:
        return {"test": list(self.test), "interval": self.interval, "timeout": self.timeout,
                "retries": self.retries, "start_period": self.start_period}


@dataclass(frozen=True)
class Dependency:
    """A service started first; `restart`: this one restarts when that one is recreated."""

    service: str
    restart: bool = False


@dataclass(frozen=True)
class Ulimit:
    """One ulimit: soft and hard limits, or one value for both where `hard` is None."""

    name: str
    soft: int
    hard: int | None = None


@dataclass(frozen=True)
class ComposeService:
    """One compose service; empty fields are left out of the document.

    `config` is a hash of the rendered files the service mounts: a file mount keeps the file it was given, so
    a changed config must recreate the container, and a changed label does that.
    """

    name: str
    image: str
    profiles: tuple[str, ...]
    restart: str = "unless-stopped"
    entrypoint: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    # written as given: one mapping shared by several services is written once (a YAML anchor)
    environment: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    ipc: str = ""
    cpuset: str = ""  # the cores the container may run on (`0-3,6`), where an engine binds its ranks to them
    ulimits: tuple[Ulimit, ...] = ()
    ports: tuple[str, ...] = ()
    depends_on: tuple[Dependency, ...] = ()
    healthcheck: Healthcheck | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    config: str = ""
    gpus: tuple[str, ...] = ()  # device ids this service is pinned to (none: CPU)
    order: tuple[str, ...] = KEY_ORDER

    def __post_init__(self) -> None:
        if sorted(self.order) != sorted(KEY_ORDER):
            raise ValueError(f"service {self.name}: order must name each of {', '.join(KEY_ORDER)} once")

    def to_compose(self, shared: dict[int, dict[str, str]] | None = None) -> dict[str, Any]:
        """The service's compose mapping, keys in `order`; `shared` keeps one dict per environment object."""
        shared = {} if shared is None else shared
        values: dict[str, Any] = {
            "image": self.image,
            "profiles": list(self.profiles),
            "restart": self.restart,
            "entrypoint": list(self.entrypoint),
            "command": list(self.command),
            "environment": shared.setdefault(id(self.environment), dict(self.environment)),
            "volumes": list(self.volumes),
            "ipc": self.ipc,
            "cpuset": self.cpuset,
            "ulimits": {u.name: u.soft if u.hard is None else {"soft": u.soft, "hard": u.hard}
                        for u in self.ulimits},
            "ports": list(self.ports),
            "depends_on": {d.service: {"condition": "service_started", **({"restart": True} if d.restart else {})}
                           for d in self.depends_on},
            "healthcheck": self.healthcheck.to_compose() if self.healthcheck else None,
            "labels": {**self.labels, **({CONFIG_LABEL: self.config} if self.config else {})},
            "deploy": gpu_reservation(self.gpus) if self.gpus else None,
        }
        return {key: values[key] for key in self.order if values[key]}


def gpu_reservation(devices: tuple[str, ...]) -> dict[str, Any]:
    """Compose's way to pin a container to GPUs: device ids as strings, capabilities required."""
    return {
        "resources": {
            "reservations": {
                "devices": [{"driver": "nvidia", "device_ids": [str(d) for d in devices], "capabilities": ["gpu"]}]
            }
        }
    }


@dataclass(frozen=True)
class ComposeFile:
    """A compose document: services in order, and the named volumes they use (default settings)."""

    services: tuple[ComposeService, ...]
    volumes: tuple[str, ...] = ()

    def to_compose(self) -> dict[str, Any]:
        shared: dict[int, dict[str, str]] = {}
        document: dict[str, Any] = {"services": {s.name: s.to_compose(shared) for s in self.services}}
        if self.volumes:
            document["volumes"] = {name: {} for name in dict.fromkeys(self.volumes)}
        return document


def config_digest(files: Mapping[str, str], names: Iterable[str]) -> str:
    """A short hash of the named rendered files (sorted by name), for a service's `config` label."""
    return hashlib.sha256("".join(files[name] for name in sorted(names)).encode()).hexdigest()[:16]
