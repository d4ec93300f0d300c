"""Each host's gate: nginx on the host's network, listening on its private address at every replica port of that
host, answering only with the stack's token. Replicas keep listening on the host's loopback only, so nothing of a
replica (Ollama's API, llama-server's /health and /models, vLLM's /invocations and /metrics) is reachable from
another machine without the token. The token stops at the gate: vLLM gets its own key, the others no header."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from taustack.engines.base import ReplicaGroup
from taustack.engines.hosted import HostedReplica
from taustack.render.compose import ENGINE_KEY, ENGINE_KEY_MAP, TOKEN_MAP, write_secret
from taustack.render.hostcompose import ConfigFile, HostService
from taustack.render.nginx import AUTH_FILE, ENGINE_AUTHORIZATION, ENGINE_KEY_FILE, render_template
from taustack.render.services import ComposeService, Healthcheck, config_digest
from taustack.secrets import API_TOKEN, MASTER_KEY
from taustack.stackfile.balancer import BalancerSpec
from taustack.stackfile.gateway import GatewaySpec

TEMPLATE = "gate.conf.j2"
# the gateway's keys, one map line each (the map is the template's): its master key, and the token
GATEWAY_KEY_FILE = "/tmp/taustack-gateway-key.conf"
GATEWAY_TOKEN_FILE = "/tmp/taustack-gateway-token.conf"
BEARER_LINE = '"Bearer %s" 1;\n'
CONFIG_PATH = "/etc/taustack/gate.conf"
PROFILE = "gate"


@dataclass(frozen=True)
class GateServer:
    replica: str  # the replica and its host, as X-Taustack-Replica names it (or "the gateway")
    listen: str  # the address it listens on, as nginx's listen takes it (IPv6 in brackets)
    port: int
    # what replaces the client's Authorization: the engine's key, or nothing ('""'); "" keeps it (the gateway)
    authorization: str
    auth_variable: str = "taustack_authorized"  # the map saying the client's Authorization passes


@dataclass(frozen=True)
class GateView:
    host: str
    stack_file: str
    address: str
    listen_address: str  # the address as nginx's listen takes it (IPv6 in brackets)
    servers: tuple[GateServer, ...]
    worker_connections: int
    body_limit: str
    read_timeout_s: int
    auth_file: str
    engine_key: bool
    engine_key_file: str
    gateway_key_file: str  # "" without the gateway
    gateway_token_file: str


def gate_service_name(host: str) -> str:
    return f"gate-{host}"


def host_replicas(groups: Sequence[ReplicaGroup], host: str) -> list[tuple[ReplicaGroup, HostedReplica]]:
    """The replicas whose head runs on `host` (what its gate stands in front of)."""
    return [(group, replica) for group in groups for replica in group.replicas
            if isinstance(replica, HostedReplica) and replica.host == host]


def bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def gate_view(host: str, address: str, groups: Sequence[ReplicaGroup], balancer: BalancerSpec,
              stack_file: str, gateway: GatewaySpec | None = None) -> GateView:
    """The gate of `host`: its replicas on its private address; with `gateway` (the front host), the gateway's port
    on the gateway's bind too, for the gateway's keys."""
    served = host_replicas(groups, host)
    servers = [GateServer(replica.label, bracketed(address), replica.port,
                          ENGINE_AUTHORIZATION if group.key_env else '""') for group, replica in served]
    if gateway is not None:
        servers.append(GateServer("the gateway", bracketed(gateway.bind), gateway.port, "",
                                  "taustack_gateway_authorized"))
    return GateView(
        host=host, stack_file=stack_file, address=address, listen_address=bracketed(address),
        servers=tuple(servers), worker_connections=balancer.worker_connections, body_limit=balancer.body_limit,
        read_timeout_s=balancer.read_timeout_s, auth_file=AUTH_FILE,
        engine_key=any(group.key_env for group, _ in served), engine_key_file=ENGINE_KEY_FILE,
        gateway_key_file=GATEWAY_KEY_FILE if gateway is not None else "", gateway_token_file=GATEWAY_TOKEN_FILE,
    )


def render_gate_conf(view: GateView, templates_dir: Path) -> str:
    return render_template(TEMPLATE, asdict(view), templates_dir)


def gate_service(view: GateView, groups: Sequence[ReplicaGroup], image: str, conf: str) -> HostService:
    """The gate's container: host networking (it listens on the private address), the token written from the
    environment when it starts, the rendered nginx.conf as a config."""
    steps = [write_secret(API_TOKEN, TOKEN_MAP, AUTH_FILE)]
    environment = {API_TOKEN: f"${{{API_TOKEN}:?run: taustack up}}"}
    if view.gateway_key_file:
        steps += [write_secret(MASTER_KEY, BEARER_LINE, view.gateway_key_file),
                  write_secret(API_TOKEN, BEARER_LINE, view.gateway_token_file)]
        environment[MASTER_KEY] = f"${{{MASTER_KEY}:?run: taustack key}}"
    keys = sorted({group.key_env for group, _ in host_replicas(groups, view.host) if group.key_env})
    if keys:
        steps.append(write_secret(ENGINE_KEY, ENGINE_KEY_MAP, ENGINE_KEY_FILE))
        environment[ENGINE_KEY] = f"${{{keys[0]}:?set {keys[0]} in .env}}"
    first = view.servers[0]
    header = f"Authorization: Bearer $${API_TOKEN}"
    check = f"curl -fsS -o /dev/null -H \"{header}\" http://{first.listen}:{first.port}/-/gate"
    name = gate_service_name(view.host)
    config = ConfigFile(name, CONFIG_PATH, conf)
    service = ComposeService(
        name=name, image=image, profiles=(PROFILE,),
        command=("sh", "-c", "; ".join(["set -e", *steps, f"exec nginx -c {CONFIG_PATH} -g 'daemon off;'"])),
        environment=environment,
        healthcheck=Healthcheck(test=("CMD-SHELL", check), interval="3s", timeout="3s", start_period="10s"),
        labels={"io.taustack.role": "gate", "io.taustack.host": view.host},
        config=config_digest({name: conf}, [name]),
    )
    return HostService(service, configs=(config,), network_host=True)
