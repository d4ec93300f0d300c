"""A vLLM replica spanning hosts, as vLLM's own multi-node: on each host a member with host networking and shared
memory, the same model path and arguments, `--nnodes N --node-rank R --master-addr HEAD --master-port P`, the
followers `--headless`. Each member runs under the group watcher (engines/vllm_group.py), which takes the whole group
down when one member dies, for Docker's restart policy to bring it back together. The head's API listens on its
host's loopback; the host's gate is the way in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from importlib import resources

from taustack.engines.base import ReplicaGroup, replica_service
from taustack.engines.cpus import format_core_list
from taustack.engines.hosted import HostedReplica, node_service
from taustack.engines.registry import get_engine
from taustack.engines.vllm import HF_CACHE, VllmEngine, cpu_environment
from taustack.render.hostcompose import ConfigFile, HostService
from taustack.render.services import Ulimit
from taustack.stackfile.spread import Node, ReplicaNodes
from taustack.stackfile.vllm import VllmSpec

WATCHER = "/etc/taustack/vllm_group.py"
JOINED = "/tmp/taustack-group-joined"


def watcher_config() -> ConfigFile:
    """The watcher's source, carried into each member as a config (the vLLM image has no taustack)."""
    text = resources.files("taustack.engines").joinpath("vllm_group.py").read_text(encoding="utf-8")
    return ConfigFile("vllm-group-watcher", WATCHER, text)


def member_argv(spec: VllmSpec, replica: HostedReplica, rank: int, head_address: str) -> list[str]:
    """`vllm serve` with the replica's arguments, its API on loopback (host networking: the gate is the way in),
    and the multi-node flags of node `rank`."""
    engine = get_engine("vllm")
    assert isinstance(engine, VllmEngine)
    args = engine.command(spec, replica)
    args[args.index("--host") + 1] = "127.0.0.1"
    args += ["--nnodes", str(spec.nodes), "--node-rank", str(rank), "--master-addr", head_address,
             "--master-port", str(spec.master_port)]
    return ["vllm", "serve", *args, *(["--headless"] if rank else [])]


def member_service(spec: VllmSpec, group: ReplicaGroup, replica: HostedReplica, rank: int, node: Node,
                   addresses: Mapping[str, str]) -> HostService:
    """One member: the watcher first (head or follower), then vLLM; host networking, the host's shared memory."""
    head_address = addresses[replica.nodes[0]]
    name = node_service(replica, rank)
    environment = {"HF_TOKEN": "${HF_TOKEN:-}", "VLLM_HOST_IP": addresses[node.host]}
    if spec.api_key_env and rank == 0:
        environment["VLLM_API_KEY"] = f"${{{spec.api_key_env}:?set {spec.api_key_env} in .env}}"
    if node.cores:
        environment.update(cpu_environment(spec, replica))
        environment["VLLM_CPU_OMP_THREADS_BIND"] = "|".join(format_core_list(rank_cores) for rank_cores in node.cores)
        environment["VLLM_CACHE_ROOT"] = f"{HF_CACHE}/taustack-vllm-cache/{name}"
    watcher = ("--role", "head" if rank == 0 else "follower", "--address", addresses[node.host],
               "--head", head_address, "--port", str(spec.master_port + 1), "--members", str(spec.nodes), "--")
    if rank == 0:
        health = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{replica.port}/health')"
        test: tuple[str, ...] = ("CMD", "python3", "-c", health)
    else:
        test = ("CMD", "test", "-e", JOINED)
    gpu_limits = spec.unlimited_memlock and not spec.on_cpu()
    service = replica_service(
        group, replica, str(spec.image), test, "10s", start_period="900s",
        entrypoint=("python3", WATCHER),
        command=(*watcher, *member_argv(spec, replica, rank, head_address)),
        environment=environment, volumes=(f"{spec.hf_cache}:{HF_CACHE}",), ipc="host",
        ulimits=(Ulimit("memlock", -1, -1), Ulimit("stack", 67108864)) if gpu_limits else (),
        cpuset=format_core_list(core for rank_cores in node.cores for core in rank_cores),
    )
    labels = {**service.labels, "io.taustack.host": node.host, "io.taustack.node": str(rank),
              "io.taustack.gpus": ",".join(node.devices) or "cpu"}
    service = replace(service, name=name, ports=(), labels=labels, gpus=node.devices)
    return HostService(service, configs=(watcher_config(),), network_host=True)


def group_services(spec: VllmSpec, group: ReplicaGroup, placed: Sequence[ReplicaNodes],
                   addresses: Mapping[str, str]) -> list[tuple[str, HostService]]:
    """(host, member) of every node of every replica, head first."""
    services = []
    for replica, nodes in zip(group.replicas, placed, strict=True):
        assert isinstance(replica, HostedReplica)
        for rank, node in enumerate(nodes):
            services.append((node.host, member_service(spec, group, replica, rank, node, addresses)))
    return services
