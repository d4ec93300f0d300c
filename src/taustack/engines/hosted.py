"""A replica on one of several hosts: reached at its host's private address (through that host's gate, with the
stack's token), named with its host(s) in answers and in status."""

from __future__ import annotations

from dataclasses import dataclass, replace

from taustack.engines.base import Replica, ReplicaGroup


@dataclass(frozen=True)
class HostedReplica(Replica):
    """`host`: where the replica's head runs (what the balancer reaches); `nodes`: every host of a vLLM group that
    spans hosts, the head first; `address`: the head host's private address, where its gate listens."""

    host: str = ""
    address: str = ""
    nodes: tuple[str, ...] = ()

    @property
    def host_url(self) -> str:
        """The replica's port on its host's private address: its gate, which wants the stack's token."""
        return f"http://{self.address}:{self.port}" if ":" not in self.address else f"http://[{self.address}]:{self.port}"

    @property
    def label(self) -> str:
        """`llamacpp-1@b`, `vllm-0@a+b`: the replica and its host(s), in X-Taustack-Replica and status."""
        return f"{self.service}@{'+'.join(self.nodes or (self.host,))}"


def node_service(replica: Replica, node: int) -> str:
    """The compose service of node `node` of a replica (node 0, the head, keeps the replica's own name)."""
    return replica.service if node == 0 else f"{replica.service}-node{node}"


def hosted_group(group: ReplicaGroup, hosts: list[tuple[str, ...]], addresses: dict[str, str]) -> ReplicaGroup:
    """The group with each replica on its hosts (`hosts[i]`: replica i's, the head first)."""
    replicas = tuple(HostedReplica(r.group, r.index, r.port, r.devices, r.cores, host=nodes[0],
                                   address=addresses[nodes[0]], nodes=nodes if len(nodes) > 1 else ())
                     for r, nodes in zip(group.replicas, hosts, strict=True))
    return replace(group, replicas=replicas)
