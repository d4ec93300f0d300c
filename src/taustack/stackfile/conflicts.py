"""Checks across the stack file's sections: no GPU serves two engine sections unless one of them shares it on
purpose, and no port is used twice, neither on the host nor inside one balancer's nginx."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taustack.stackfile.balancer import REPLICA_TAG_PORT, STATUS_PORT
from taustack.stackfile.gpus import Placement, PlacementError

if TYPE_CHECKING:
    from taustack.stackfile.stack import EngineSection, StackSpec


@dataclass(frozen=True)
class PortUse:
    """One port something listens on: the field that sets it (named first in an error) and what it is, in words
    that name the field too."""

    port: int
    field: str
    what: str


def gpu_names(gpus: Iterable[str]) -> str:
    """GPUs in words, indexes in numeric order: `GPU 2, 10`."""
    ordered = sorted(gpus, key=lambda gpu: (not gpu.isdigit(), int(gpu) if gpu.isdigit() else 0, gpu))
    return "GPU " + ", ".join(ordered)


def check_gpu_overlap(spec: StackSpec, placements: Mapping[str, Placement]) -> None:
    """Two engine sections on one GPU compete for its memory (vLLM takes 90% of it): refused unless one of them
    sets `share_gpus`. Devices are compared as written (an index with an index, a UUID with a UUID)."""
    placed = [(name, section, {device for replica in placements[name] for device in replica})
              for name, section in spec.engine_sections() if name in placements]
    for position, (name, section, gpus) in enumerate(placed):
        for other_name, other, other_gpus in placed[:position]:
            shared = gpus & other_gpus
            if shared and not (section.share_gpus or other.share_gpus):
                field, other_field = ("gpu_ids" if s.gpu_ids else "gpus" for s in (section, other))
                raise PlacementError(
                    f"{name}.{field}: {gpu_names(shared)} would also serve {other_name} ({other_name}.{other_field}): "
                    f"give each engine its own GPUs, or set share_gpus: true on one of them if sharing is on purpose")


def published_ports(spec: StackSpec, replicas: Mapping[str, int]) -> list[PortUse]:
    """Every port the stack publishes on the host; `replicas`: each section's replica count where it is known (a
    section of `gpus: all` learns it from the inventory)."""
    uses = []
    for name, section in spec.engine_sections():
        field = f"{name}.port"
        uses.append(PortUse(section.port, field, f"the {name} balancer's port ({field})"))
        uses += [PortUse(section.port + 1 + index, field, f"{name} replica {index}'s port ({field} + {1 + index})")
                 for index in range(replicas.get(name, 0))]
    if spec.gateway is not None:
        uses.append(PortUse(spec.gateway.port, "gateway.port", "the gateway's port (gateway.port)"))
    if spec.monitoring is not None:
        ports = {"exporter": ("the exporter's", spec.monitoring.exporter_port),
                 "prometheus": ("Prometheus's", spec.monitoring.prometheus_port)}
        if spec.monitoring.grafana:
            ports["grafana"] = ("Grafana's", spec.monitoring.grafana_port)
        uses += [PortUse(port, f"monitoring.{key}_port", f"{whose} port (monitoring.{key}_port)")
                 for key, (whose, port) in ports.items()]
    return uses


def nginx_ports(spec: StackSpec, name: str, section: EngineSection, replicas: int | None) -> list[PortUse]:
    """The ports one balancer's nginx listens on: its fixed inner ports first, then the section's own."""
    uses = []
    if replicas is not None and spec.balancer.affinity_for(replicas) == "router":
        uses += [PortUse(REPLICA_TAG_PORT + index, "balancer.affinity",
                         f"where the {name} balancer takes the router's requests for replica {index} "
                         f"({REPLICA_TAG_PORT} + {index}, with balancer.affinity: router)")
                 for index in range(replicas)]
    if spec.monitoring is not None:
        uses.append(PortUse(STATUS_PORT, "monitoring", f"where the {name} balancer gives the exporter its "
                                                       f"connection counts (with monitoring)"))
    return [*uses, PortUse(section.port, f"{name}.port", f"the {name} balancer's port ({name}.port)")]


def first_clash(uses: Iterable[PortUse]) -> str | None:
    """`field: why` for the first port used twice, naming both fields; None when every port is used once."""
    seen: list[PortUse] = []
    for use in uses:
        for earlier in seen:
            if earlier.port == use.port:
                return f"{use.field}: {use.port} is {use.what} and also {earlier.what}: give one of them another port"
        seen.append(use)
    return None


def check_shared(spec: StackSpec, placements: Mapping[str, Placement]) -> None:
    """No GPU and no port used twice, for the sections already placed (`gpus: all` waits for the inventory)."""
    check_gpu_overlap(spec, placements)
    check_ports(spec, {name: len(placement) for name, placement in placements.items()})


def check_ports(spec: StackSpec, replicas: Mapping[str, int]) -> None:
    """Every published port once on the host, and every port of a balancer's nginx once inside it."""
    clash = first_clash(published_ports(spec, replicas))
    for name, section in spec.engine_sections():
        clash = clash or first_clash(nginx_ports(spec, name, section, replicas.get(name)))
    if clash:
        raise PlacementError(clash)
