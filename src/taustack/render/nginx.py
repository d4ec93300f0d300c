"""nginx.conf for one replica group, from a logic-free Jinja template and a small typed view."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jinja2

from taustack.engines.base import ReplicaGroup
from taustack.stackfile.balancer import REPLICA_TAG_PORT, STATUS_PORT, BalancerSpec

TEMPLATE = "balancer.conf.j2"


@dataclass(frozen=True)
class UpstreamServer:
    address: str
    port: int
    replica: str
    tag_port: int  # where nginx passes the router's requests on to this replica, naming it in X-Taustack-Replica


@dataclass(frozen=True)
class BalancerView:
    """Everything the template reads; computed here so the template only substitutes and loops."""

    name: str
    stack_file: str  # the stack file it was rendered from, as the header names it
    listen_port: int
    balance_directive: str
    servers: tuple[UpstreamServer, ...]
    affinity: str
    session_pool: str
    router_address: str
    inference_regex: str
    refused_regex: str
    refused_body: str
    health_path: str
    read_timeout_s: int
    connect_timeout_s: int
    body_limit: str
    worker_connections: int
    worker_rlimit_nofile: int
    keepalive: int
    keepalive_timeout_s: int
    max_fails: int
    fail_timeout_s: int
    next_upstream_tries: int
    auth: bool
    auth_file: str
    engine_key: bool  # nginx holds the engine's own key (written from the environment at start) to send upstream
    engine_key_file: str
    # `proxy_set_header Authorization` of every proxying server: the engine's key or nothing in place of the
    # client's token; "" (no directive) passes the client's header on
    upstream_authorization: str
    monitoring: bool
    status_port: int
    # replicas on other hosts: TCP keepalive on upstream connections (the front container's sysctls time it), so a
    # host that vanished without a reset fails its requests over within seconds, not at read_timeout_s
    socket_keepalive: bool = False
    # no replica reachable (their hosts' gates gone or answering 502): a clean 503 instead of nginx's 502
    unavailable_503: bool = False


AUTH_FILE = "/tmp/taustack-auth.conf"
ENGINE_KEY_FILE = "/tmp/taustack-engine-key.conf"
ENGINE_AUTHORIZATION = "$taustack_engine_authorization"  # the variable ENGINE_KEY_FILE sets

# the router's listeners inside its container (vllm-router's defaults): none of them is published
ROUTER_PORT = 30000
ROUTER_METRICS_PORT = 29000

# which upstream block serves requests with an X-Session-ID, by `balancer.affinity`
SESSION_POOLS = {"router": "router", "hash": "session", "off": "balanced"}

# nginx's default method is weighted round robin: no directive
BALANCE_DIRECTIVES = {"least_conn": "least_conn;", "round_robin": "# round robin (nginx's default)"}


def balancer_view(group: ReplicaGroup, settings: BalancerSpec, stack_file: str,
                  monitoring: bool = False) -> BalancerView:
    servers = tuple(
        UpstreamServer(address=f"{replica.service}:{replica.port}", port=replica.port, replica=replica.service,
                       tag_port=REPLICA_TAG_PORT + index)
        for index, replica in enumerate(group.replicas)
    )
    affinity = settings.affinity_for(len(group.replicas))
    return BalancerView(
        name=group.engine,
        stack_file=stack_file,
        listen_port=group.port,
        balance_directive=BALANCE_DIRECTIVES[settings.strategy],
        servers=servers,
        affinity=affinity,
        session_pool=f"{group.engine}_{SESSION_POOLS[affinity]}",
        router_address=f"{group.router_service}:{ROUTER_PORT}" if affinity == "router" else "",
        inference_regex=group.routes.inference_regex,
        refused_regex=group.routes.refused_regex,
        refused_body=group.routes.refused_hint,
        health_path=group.routes.health_path,
        read_timeout_s=settings.read_timeout_s,
        connect_timeout_s=settings.connect_timeout_s,
        body_limit=settings.body_limit,
        worker_connections=settings.worker_connections,
        # a proxied stream holds two descriptors (client and upstream), plus logs and listeners
        worker_rlimit_nofile=max(8192, settings.worker_connections * 2 + 1024),
        keepalive=settings.keepalive if group.routes.reuse_connections else 0,
        keepalive_timeout_s=settings.keepalive_timeout_s,
        max_fails=settings.max_fails,
        fail_timeout_s=settings.fail_timeout_s,
        next_upstream_tries=settings.next_upstream_tries,
        auth=group.auth,
        auth_file=AUTH_FILE,
        engine_key=engine_key(group),
        engine_key_file=ENGINE_KEY_FILE,
        upstream_authorization=upstream_authorization(group),
        monitoring=monitoring,
        status_port=STATUS_PORT,
    )


def engine_key(group: ReplicaGroup) -> bool:
    """The balancer checks the API token and the engine wants its own key: nginx sends that key upstream."""
    return group.auth and group.key_env is not None


def upstream_authorization(group: ReplicaGroup) -> str:
    """What replaces the client's Authorization on the way to a replica: the client's API token never leaves the
    balancer that checked it. Without a token to check (loopback), the client's header goes on: an engine with
    its own key (vLLM's --api-key) checks it there."""
    if not group.auth:
        return ""
    return ENGINE_AUTHORIZATION if engine_key(group) else '""'


def render_nginx_conf(view: BalancerView, templates_dir: Path) -> str:
    return render_template(TEMPLATE, asdict(view), templates_dir)


def render_template(template: str, values: dict[str, Any], templates_dir: Path) -> str:
    """One of nginx/'s logic-free templates, filled with a view's values (a missing value is an error)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return environment.get_template(template).render(**values)
