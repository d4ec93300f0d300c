"""Replicas on hosts: which host runs each replica (each node of a vLLM group spanning hosts), on which of that host's
GPUs and cores, checked per host before anything starts. No scheduler: placement is what the file says.

A section's `hosts:` is a list (replicas spread over it in turn: replica i on host i mod n; a vLLM replica of
`nodes: N` takes N hosts in turn, its head first) or a mapping host -> replicas. Without it, a section spreads over
every host. GPU words (gpus, gpu_ids, gpus_per_replica) mean on each host what they mean on one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from taustack.engines.cpus import format_core_list, host_cores
from taustack.errors import SpecError
from taustack.stackfile.conflicts import PortUse, check_gpu_overlap, first_clash, nginx_ports, published_ports
from taustack.stackfile.gpus import PlacementError, gpu_devices, split_devices
from taustack.stackfile.hosts import HostSpec, check_host_names, front_host

if TYPE_CHECKING:
    from taustack.stackfile.stack import EngineSection, StackSpec

CoreInventory = Callable[[], tuple[int, ...]]


@dataclass(frozen=True)
class Node:
    """One engine process of a replica: the host it runs on, its GPUs, and (vLLM on the CPU) each local rank's
    cores. A replica has one node, or several when a vLLM group spans hosts (node 0, the head, is what the
    balancer reaches)."""

    host: str
    devices: tuple[str, ...] = ()
    cores: tuple[tuple[int, ...], ...] = ()


ReplicaNodes = tuple[Node, ...]


@dataclass(frozen=True)
class HostLayout:
    """Where every replica of every engine section runs; `front` carries the balancers, routers, gateway and
    monitoring."""

    front: str
    sections: Mapping[str, tuple[ReplicaNodes, ...]]

    def hosts_used(self, hosts: Sequence[str]) -> list[str]:
        """The hosts something runs on (the front always), in the file's order."""
        used = {self.front} | {node.host for replicas in self.sections.values() for nodes in replicas
                               for node in nodes}
        return [name for name in hosts if name in used]

    def head_devices(self, section: str) -> tuple[tuple[str, ...], ...]:
        """Each replica's head devices: the placement a ReplicaGroup is built from."""
        return tuple(nodes[0].devices for nodes in self.sections[section])


def where(message: str, host: str) -> str:
    """`field: why` -> `field: on host H, why` (a placement error found on one host)."""
    field, _, why = message.partition(": ")
    return f"{field}: on host {host}, {why}"


def node_count(section: EngineSection) -> int:
    return getattr(section, "nodes", 1)


def listed_hosts(name: str, section: EngineSection, hosts: Mapping[str, HostSpec]) -> list[str] | dict[str, int]:
    """The section's hosts as written (every host when it names none), each one checked to exist."""
    chosen: list[str] | dict[str, int] = section.hosts if section.hosts is not None else list(hosts)
    for host in chosen:
        if host not in hosts:
            raise PlacementError(f"{name}.hosts: no host {host!r} in hosts: ({', '.join(hosts)})")
    return chosen


def replica_hosts(name: str, section: EngineSection, hosts: Mapping[str, HostSpec],
                  slots: Callable[[str], int | None]) -> list[tuple[str, ...]]:
    """The hosts of each replica, one per node (the head first). `slots(host)`: how many replicas the section's GPU
    words give that host when `replicas` is not set (None on the CPU: one each)."""
    chosen, nodes = listed_hosts(name, section, hosts), node_count(section)
    if isinstance(chosen, dict):
        if nodes > 1:
            raise PlacementError(f"{name}.hosts: a group of nodes: {nodes} takes a list of hosts, in order")
        placed: list[tuple[str, ...]] = [(host,) for host, count in chosen.items() for _ in range(count)]
        if section.replicas is not None and section.replicas != len(placed):
            counts = ", ".join(f"{host}: {count}" for host, count in chosen.items())
            more = (f"replica {len(placed)} is on no host" if section.replicas > len(placed)
                    else f"{len(placed) - section.replicas} more than replicas says")
            raise PlacementError(f"{name}.replicas: {section.replicas}, but {name}.hosts places {len(placed)} "
                                 f"({counts}): {more}")
        return placed
    if len(set(chosen)) != len(chosen):
        raise PlacementError(f"{name}.hosts: names a host twice")
    if nodes > len(chosen):
        raise PlacementError(f"{name}.nodes: {nodes} hosts per replica, {len(chosen)} listed in {name}.hosts")
    count = section.replicas
    if count is None:
        if nodes > 1:
            if len(chosen) % nodes:
                raise PlacementError(f"{name}.hosts: {len(chosen)} hosts do not split into groups of nodes: {nodes} "
                                     "(set replicas)")
            count = len(chosen) // nodes
        else:
            per_host = [slots(host) for host in chosen]
            count = sum(1 if slot is None else slot for slot in per_host)
            if count == 0:
                raise PlacementError(f"{name}.hosts: no replica fits on the GPUs given")
            return [(host,) for host, slot in zip(chosen, per_host, strict=True)
                    for _ in range(1 if slot is None else slot)]
    return [tuple(chosen[(index * nodes + k) % len(chosen)] for k in range(nodes)) for index in range(count)]


def host_devices(name: str, section: EngineSection, host: str, spec: HostSpec) -> list[str] | None:
    """The GPUs the section's words give on `host` (None: the CPU), each one a GPU the host lists."""
    def inventory() -> list[str]:
        if spec.gpus is None:
            raise SpecError(f"'all' needs hosts.{host}.gpus (the GPUs {host} has)")
        return list(spec.gpus)

    try:
        devices = gpu_devices(name, section.gpus, section.gpu_ids, section.gpus_per_replica, inventory)
    except PlacementError as exc:
        raise PlacementError(where(str(exc), host)) from None
    if devices is not None and spec.gpus is not None:
        foreign = [device for device in devices if device not in spec.gpus]
        if foreign:
            field = "gpu_ids" if section.gpu_ids else "gpus"
            raise PlacementError(f"{name}.{field}: host {host} has no GPU {', '.join(foreign)} (hosts.{host}.gpus: "
                                 f"{', '.join(spec.gpus)})")
    return devices


def per_node_gpus(section: EngineSection) -> int | None:
    """GPUs each node takes: TP x PP x DP / nodes for vLLM, gpus_per_replica (or derived) for the others."""
    if hasattr(section, "replica_size"):
        return int(section.replica_size()) // node_count(section)
    return section.gpus_per_replica


def place_section(name: str, section: EngineSection, hosts: Mapping[str, HostSpec]) -> tuple[ReplicaNodes, ...]:
    """Every replica's nodes with their GPUs; errors name the field and the host."""
    per = per_node_gpus(section)

    def slots(host: str) -> int | None:
        devices = host_devices(name, section, host, hosts[host])
        if devices is None:
            return None
        return len(split_on_host(name, section, host, devices, per, None))

    placed = replica_hosts(name, section, hosts, slots)
    members: dict[str, list[tuple[int, int]]] = {}
    for index, replica in enumerate(placed):
        for node, host in enumerate(replica):
            members.setdefault(host, []).append((index, node))
    devices: dict[tuple[int, int], tuple[str, ...]] = {}
    for host, on_host in members.items():
        available = host_devices(name, section, host, hosts[host])
        if available is None:
            continue
        groups = split_on_host(name, section, host, available, per, len(on_host))
        devices.update(zip(on_host, groups, strict=True))
    return tuple(tuple(Node(host, devices.get((index, node), ())) for node, host in enumerate(replica))
                 for index, replica in enumerate(placed))


def split_on_host(name: str, section: EngineSection, host: str, devices: list[str], per: int | None,
                  count: int | None) -> list[tuple[str, ...]]:
    """The host's GPUs split into one group per node; every GPU used (vLLM), as on one host."""
    if hasattr(section, "replica_size") and per is not None and len(devices) % per:
        raise PlacementError(f"{name}.gpus: on host {host}, {len(devices)} GPUs leave {len(devices) % per} idle: each "
                             f"node takes TP x PP x DP / nodes = {per}")
    try:
        return split_devices(name, devices, per, count)
    except PlacementError as exc:
        raise PlacementError(where(str(exc), host)) from None


def place_hosts(spec: StackSpec) -> HostLayout:
    """Every section's replicas on the hosts, GPUs checked per host (no GPU serves two sections unless one shares
    it), every port used once; vLLM's CPU cores are placed when the stack resolves (place_host_cores)."""
    hosts = spec.hosts or {}
    sections = {name: place_section(name, section, hosts) for name, section in spec.engine_sections()}
    layout = HostLayout(front=front_host(hosts), sections=sections)
    for host in hosts:
        try:
            check_gpu_overlap(spec, {name: tuple(node.devices for nodes in replicas for node in nodes
                                                 if node.host == host) for name, replicas in sections.items()})
        except PlacementError as exc:
            raise PlacementError(where(str(exc), host)) from None
    check_host_ports(spec, layout)
    return layout


def group_ports(spec: StackSpec) -> list[PortUse]:
    """The ports of vLLM's multi-node groups on their head's host: torch's rendezvous and the group's heartbeat."""
    vllm = spec.vllm
    if vllm is None or vllm.nodes == 1:
        return []
    return [PortUse(vllm.master_port, "vllm.master_port", "vLLM's group rendezvous (vllm.master_port)"),
            PortUse(vllm.master_port + 1, "vllm.master_port",
                    "the vLLM group's heartbeat (vllm.master_port + 1)")]


def check_host_ports(spec: StackSpec, layout: HostLayout) -> None:
    """Every port once: what the front publishes, each replica's port (a gate listens there on its host's private
    address), the vLLM groups' ports; and each balancer's inner ports once inside its nginx."""
    replicas = {name: len(placed) for name, placed in layout.sections.items()}
    clash = first_clash([*published_ports(spec, replicas), *group_ports(spec)])
    for name, section in spec.engine_sections():
        clash = clash or first_clash(nginx_ports(spec, name, section, replicas.get(name)))
    if clash:
        raise PlacementError(clash)


def place_host_cores(spec: StackSpec, layout: HostLayout, local_cores: CoreInventory = host_cores) -> HostLayout:
    """vLLM's CPU ranks on each host's cores (vllm.cpu_cores, else hosts.H.cores, else the controller's own for a
    `local` host), node by node; llama.cpp's threads on that host must fit in what is left."""
    vllm = spec.vllm
    if vllm is None or not vllm.on_cpu():
        return layout
    hosts = spec.hosts or {}
    per_node = vllm.replica_size() // vllm.nodes
    placed = [list(nodes) for nodes in layout.sections["vllm"]]
    for host, host_spec in hosts.items():
        on_host = [(index, node) for index, nodes in enumerate(placed) for node, member in enumerate(nodes)
                   if member.host == host]
        if not on_host:
            continue
        cores = host_core_list(host, host_spec, vllm.cpu_cores, local_cores)
        needed = len(on_host) * per_node * vllm.cores_per_rank
        if needed > len(cores):
            raise PlacementError(
                f"vllm.cpu_cores: on host {host}, {len(on_host)} node(s) x {per_node} rank(s) x {vllm.cores_per_rank} "
                f"core(s) per rank need {needed} cores, {len(cores)} given ({format_core_list(cores)})")
        step = vllm.cores_per_rank
        for position, (index, node) in enumerate(on_host):
            first = position * per_node * step
            ranks = tuple(tuple(cores[first + rank * step:first + (rank + 1) * step]) for rank in range(per_node))
            placed[index][node] = replace(placed[index][node], cores=ranks)
        check_llama_threads(spec, layout, host, len(cores), needed)
    return replace(layout, sections={**layout.sections, "vllm": tuple(tuple(nodes) for nodes in placed)})


def host_core_list(host: str, spec: HostSpec, cpu_cores: tuple[int, ...] | None,
                   local_cores: CoreInventory) -> tuple[int, ...]:
    if cpu_cores is not None:
        return cpu_cores
    if spec.cores is not None:
        return spec.cores
    if spec.is_local():
        return local_cores()
    raise PlacementError(f"hosts.{host}.cores: vLLM runs on {host}'s CPU: name the cores it has (e.g. '0-7')")


def check_llama_threads(spec: StackSpec, layout: HostLayout, host: str, cores: int, bound: int) -> None:
    """llama.cpp's CPU replicas on `host` fit in the cores vLLM's ranks leave there."""
    llama = spec.llamacpp
    if llama is None or llama.gpus != "cpu" or llama.gpu_ids:
        return
    count = sum(1 for nodes in layout.sections.get("llamacpp", ()) if nodes[0].host == host)
    threads = llama.threads * count
    if threads > cores - bound:
        raise PlacementError(
            f"llamacpp.threads: on host {host}, {count} replica(s) x {llama.threads} thread(s) need {threads} cores, "
            f"and vLLM's ranks hold {bound} of its {cores}: {cores - bound} left")


def check_hosts(spec: StackSpec) -> bool:
    """The hosts section and every placement on it (True), or that nothing asks for hosts without one (False: one
    host, today's checks apply)."""
    if spec.hosts is None:
        for name, section in spec.engine_sections():
            if section.hosts is not None:
                raise PlacementError(f"{name}.hosts: names hosts, but the stack file has no hosts: section")
        if spec.vllm is not None and spec.vllm.nodes > 1:
            raise PlacementError("vllm.nodes: a replica across hosts needs a hosts: section")
        return False
    check_host_names(spec.hosts)
    if spec.ollama is not None:
        raise PlacementError("ollama: not across hosts yet (pulls go to each replica directly): use llamacpp or vllm "
                             "sections with hosts:, or one stack per host")
    check_front_binds(spec)
    if spec.vllm is not None and "/" in spec.vllm.hf_cache and not spec.vllm.hf_cache.startswith("/"):
        raise PlacementError(f"vllm.hf_cache: {spec.vllm.hf_cache} names a folder relative to this machine: across "
                             "hosts give a path every host has (absolute), or a volume name (one per host)")
    place_hosts(spec)
    return True


def check_front_binds(spec: StackSpec) -> None:
    """A front host the controller reaches over the network: each published front door port binds an address of
    that host the controller can dial (its loopback is the front host's own, and 0.0.0.0 does not say which)."""
    hosts = spec.hosts or {}
    front = front_host(hosts)
    if hosts[front].is_local():
        return
    binds = [(f"{name}.bind", section.bind) for name, section in spec.engine_sections()]
    if spec.gateway is not None:
        binds.append(("gateway.bind", spec.gateway.bind))
    for field, bind in binds:
        address = ipaddress.ip_address(bind)
        if address.is_loopback or address.is_unspecified:
            raise PlacementError(f"{field}: {bind} on the front host {front}, which this controller reaches over the "
                                 f"network: bind an address of {front} (hosts.{front}.address: "
                                 f"{hosts[front].address}); a token is then required")
