"""The balancer section of the stack file: nginx in front of every replica group."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from taustack.stackfile.base import SIZE_RE, ImageRef, StrictModel

# ports inside each balancer's nginx, never published: where it hands the router's requests to replica i
# (REPLICA_TAG_PORT + i), and where the exporter reads its connection counts (with monitoring)
REPLICA_TAG_PORT = 9100
STATUS_PORT = 8079


class RouterSpec(StrictModel):
    """The session-aware router (vllm-router) behind each group's nginx, for requests with an X-Session-ID."""

    image: ImageRef = Field("taustack/router:0.1.17", description="built by `make images` from vllm-router's wheel")
    policy: Literal["sticky_least_loaded", "consistent_hash", "power_of_two", "round_robin"] = Field(
        "sticky_least_loaded",
        description="sticky_least_loaded: a new session goes to the replica with the fewest active sessions and "
                    "stays there; consistent_hash: vllm-router's own session hash (no load bound)")
    session_expiry_s: int = Field(
        7200, ge=1, description="an idle session is forgotten after this long (a finished `taustack eval run` "
                                "simulation ends its session at once)")
    health_interval_s: int = Field(
        2, ge=1, description="how often the router probes each replica: a dead one stops getting sessions, and a "
                             "restarted one gets new ones, within a few probes")


class BalancerSpec(StrictModel):
    """nginx in front of every replica group: routing, timeouts and limits."""

    image: ImageRef = Field("nginx:1.28.0", description="the nginx image, pinned")
    strategy: Literal["least_conn", "round_robin"] = Field(
        "least_conn", description="how requests without an X-Session-ID pick a replica")
    affinity: Literal["router", "hash", "off"] = Field(
        "router", description="how requests with an X-Session-ID pick a replica: router (a session-aware router "
                              "keeps each session on one replica and spreads sessions evenly), hash (nginx's "
                              "consistent hash of the id: no load bound), off (like requests without one)")
    router: RouterSpec = Field(default_factory=RouterSpec, description="the router of `affinity: router`")
    read_timeout_s: int = Field(3600, ge=1, description="longest wait for a replica's next bytes")
    connect_timeout_s: int = Field(5, ge=1, description="time to open a connection to a replica")
    body_limit: str = Field("64m", description="largest request body (nginx size: 64m, 512k)")
    worker_connections: int = Field(8192, ge=512, description="connections per nginx worker")
    keepalive: int = Field(64, ge=0, description="idle upstream connections kept per worker")
    keepalive_timeout_s: int = Field(
        4, ge=1, description="how long an idle upstream connection is kept: below the engines' own idle timeout "
                             "(llama-server and vLLM's uvicorn close after 5 s), or a reused connection may be "
                             "closed under a request and the replica counted as failed")
    max_fails: int = Field(1, ge=0, description="failures before a replica is skipped for fail_timeout")
    fail_timeout_s: int = Field(5, ge=1, description="how long a failed replica is skipped")
    next_upstream_tries: int = Field(3, ge=1, description="replicas an inference request may try")

    def affinity_for(self, replicas: int) -> str:
        """`affinity` for a group of `replicas`; one replica has no choice to make (no router, no hash)."""
        return self.affinity if replicas > 1 else "off"

    @field_validator("body_limit")
    @classmethod
    def _body_limit(cls, value: str) -> str:
        if not SIZE_RE.match(value.lower()):
            raise ValueError(f"{value!r} is not an nginx size such as 64m")
        return value.lower()
