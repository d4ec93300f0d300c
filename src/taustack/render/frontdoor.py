"""The front door of a stack across hosts: on one host, each group's balancer and session router, the gateway (and
monitoring), as on one host, but reaching every replica at its host's private address through that host's gate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from taustack.engines.base import ReplicaGroup
from taustack.engines.hosted import HostedReplica
from taustack.render import litellm
from taustack.render.compose import (
    ENGINE_KEY,
    ENGINE_KEY_MAP,
    TOKEN_MAP,
    balancer_service,
    nginx_command,
    router_service,
    write_secret,
)
from taustack.render.hostcompose import ConfigFile, HostService
from taustack.render.nginx import (
    AUTH_FILE,
    ENGINE_AUTHORIZATION,
    ENGINE_KEY_FILE,
    BalancerView,
    UpstreamServer,
    balancer_view,
)
from taustack.render.services import Dependency, config_digest
from taustack.secrets import API_TOKEN
from taustack.stackfile.balancer import REPLICA_TAG_PORT
from taustack.stackfile.stack import StackSpec

NGINX_CONF = "/etc/nginx/nginx.conf"
# TCP keepalive of the balancer's upstream connections (its own network namespace): a host that vanished without a
# reset is found 10 + 3 x 5 = 25 s after its last answer, and the request retried on another replica
KEEPALIVE_SYSCTLS = {"net.ipv4.tcp_keepalive_time": "10", "net.ipv4.tcp_keepalive_intvl": "5",
                     "net.ipv4.tcp_keepalive_probes": "3"}


def dial(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def front_view(group: ReplicaGroup, spec: StackSpec, stack_file: str) -> BalancerView:
    """The group's balancer: its upstreams are the replicas' gates, which take the stack's token (sent in place of
    the client's Authorization), and dead hosts are found by TCP keepalive."""
    view = balancer_view(group, spec.balancer, stack_file, monitoring=spec.monitoring is not None)
    servers = tuple(UpstreamServer(address=dial(replica.address, replica.port), port=replica.port,
                                   replica=replica.label, tag_port=REPLICA_TAG_PORT + index)
                    for index, replica in enumerate(group.replicas) if isinstance(replica, HostedReplica))
    return replace(view, servers=servers, engine_key=True, upstream_authorization=ENGINE_AUTHORIZATION,
                   socket_keepalive=True, unavailable_503=True)


def front_balancer(group: ReplicaGroup, spec: StackSpec, conf: str, logs_mount: str) -> HostService:
    """nginx with its conf as a config; it sends the stack's token to the gates (as the 'engine key' its conf
    includes), and checks it from clients on a public bind."""
    name = f"{group.engine}-balancer.conf"
    base = balancer_service(group, spec.balancer, "", config_digest({name: conf}, [name]), logs_mount)
    steps = ([write_secret(API_TOKEN, TOKEN_MAP, AUTH_FILE)] if group.auth else [])
    steps.append(write_secret(ENGINE_KEY, ENGINE_KEY_MAP, ENGINE_KEY_FILE))
    token = f"${{{API_TOKEN}:?run: taustack up}}"
    service = replace(
        base,
        command=nginx_command(steps, (group.router_service,) if group.router else ()),
        volumes=(logs_mount,) if logs_mount else (),
        depends_on=(Dependency(group.router_service, restart=True),) if group.router else (),
        environment={API_TOKEN: token, ENGINE_KEY: token},
    )
    return HostService(service, configs=(ConfigFile(name, NGINX_CONF, conf),), sysctls=KEEPALIVE_SYSCTLS)


def front_gateway(spec: StackSpec, groups: Sequence[ReplicaGroup], keys: Mapping[str, str]) -> HostService:
    """LiteLLM as on one host (its routes are the balancers on the front's network), its config as a config; its
    port on the front's loopback: the front's gate publishes it, refusing anything without a key (LiteLLM itself
    answers /health/liveliness and /metrics/ to anyone)."""
    assert spec.gateway is not None
    by_engine = {group.engine: group for group in groups}
    text = litellm.config_document(litellm.litellm_config(spec.gateway, by_engine, keys))
    name = "gateway.yaml"
    service = litellm.gateway_service(spec.gateway, groups, "", config_digest({name: text}, [name]), keys)
    port = spec.gateway.port
    return HostService(replace(service, volumes=(), ports=(f"127.0.0.1:{port}:{port}",)),
                       configs=(ConfigFile(name, "/etc/litellm/config.yaml", text),))


def front_services(spec: StackSpec, groups: Sequence[ReplicaGroup], confs: Mapping[str, str],
                   logs_mount: str) -> list[HostService]:
    """Every group's router and balancer (`confs`: each balancer's nginx.conf by engine), then the gateway."""
    services: list[HostService] = []
    for group in groups:
        if group.router:
            services.append(HostService(router_service(group, spec.balancer.router, spec.balancer.read_timeout_s)))
        services.append(front_balancer(group, spec, confs[group.engine], logs_mount))
    if spec.gateway is not None:
        keys = {group.engine: group.key_env for group in groups if group.key_env}
        services.append(front_gateway(spec, groups, keys))
    return services
