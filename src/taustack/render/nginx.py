"""nginx.conf for one replica group, from a logic-free Jinja template and a small typed view."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2

from taustack.engines.base import ReplicaGroup
from taustack.stackfile.balancer import BalancerSpec

TEMPLATE = "balancer.conf.j2"


@dataclass(frozen=True)
class UpstreamServer:
    address: str
    port: int
    replica: str


@dataclass(frozen=True)
class BalancerView:
    """Everything the template reads; computed here so the template only substitutes and loops."""

    name: str
    listen_port: int
    balance_directive: str
    servers: tuple[UpstreamServer, ...]
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
    monitoring: bool
    status_port: int


AUTH_FILE = "/tmp/taustack-auth.conf"


STATUS_PORT = 8079

# nginx's default method is weighted round robin: no directive
BALANCE_DIRECTIVES = {"least_conn": "least_conn;", "round_robin": "# round robin (nginx's default)"}


def balancer_view(group: ReplicaGroup, settings: BalancerSpec, monitoring: bool = False) -> BalancerView:
    servers = tuple(
        UpstreamServer(address=f"{replica.service}:{replica.port}", port=replica.port, replica=replica.service)
        for replica in group.replicas
    )
    return BalancerView(
        name=group.engine,
        listen_port=group.port,
        balance_directive=BALANCE_DIRECTIVES[settings.strategy],
        servers=servers,
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
        monitoring=monitoring,
        status_port=STATUS_PORT,
    )


def render_nginx_conf(view: BalancerView, templates_dir: Path) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return environment.get_template(TEMPLATE).render(**asdict(view))
