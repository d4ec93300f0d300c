"""The rendered compose file: every replica service and the balancer in front of each group."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from taustack.engines.base import ReplicaGroup
from taustack.render.nginx import AUTH_FILE, ENGINE_KEY_FILE, ROUTER_METRICS_PORT, ROUTER_PORT, engine_key
from taustack.render.services import ComposeFile, ComposeService, Dependency, Healthcheck, Ulimit
from taustack.secrets import API_TOKEN
from taustack.stackfile.balancer import REPLICA_TAG_PORT, BalancerSpec, RouterSpec

HEADER = (
    "# Rendered by `taustack render` from {stack_file}: do not edit.\n"
    "# taustack passes it to docker compose after the root compose.yaml (-f compose.yaml -f this file).\n"
)

# the engine's own key inside its balancer's container, from the variable the stack file names (vllm.api_key_env)
ENGINE_KEY = "TAUSTACK_ENGINE_KEY"
# what a secret may hold to be written between double quotes in nginx's config ($ would start a variable there, "
# and \ end or escape the string)
SECRET_CHARS = "A-Za-z0-9._~+/=:@-"
# the maps nginx includes (printf formats for write_secret): the client's token checked, the engine's key sent on
TOKEN_MAP = 'map $$http_authorization $$taustack_authorized {\n  default 0;\n  "Bearer %s" 1;\n}\n'
ENGINE_KEY_MAP = 'map "" $$taustack_engine_authorization {\n  default "Bearer %s";\n}\n'

# nginx's keys in the order of the files rendered so far: its ulimits after its ports, its environment last
BALANCER_KEY_ORDER = (
    "image", "profiles", "restart", "entrypoint", "command", "volumes", "ipc", "cpuset", "ports", "ulimits",
    "depends_on", "healthcheck", "labels", "deploy", "environment",
)


def balancer_service(group: ReplicaGroup, settings: BalancerSpec, conf_path: str, config: str,
                     logs_mount: str = "") -> ComposeService:
    """nginx with the rendered nginx.conf (`config`: its hash); curl exists in nginx's Debian image, wget in its
    Alpine one. `logs_mount` shares the access logs with the exporter when monitoring is on."""
    alive = f"http://127.0.0.1:{group.port}/-/alive"
    nofile = max(8192, settings.worker_connections * 2 + 1024)
    upstreams = tuple(service for service in group.services if service != group.balancer_service)
    check = f"curl -fsS -o /dev/null {alive} || wget -q -O /dev/null {alive}"
    environment = {}
    steps = []
    if group.auth:
        # secrets reach nginx through the environment only: written to files inside the container when it starts
        steps.append(write_secret(API_TOKEN, TOKEN_MAP, AUTH_FILE))
        if engine_key(group):
            steps.append(write_secret(ENGINE_KEY, ENGINE_KEY_MAP, ENGINE_KEY_FILE))
            environment[ENGINE_KEY] = f"${{{group.key_env}:?set {group.key_env} in .env}}"
        header = f"Authorization: Bearer $${API_TOKEN}"
        check = (f"curl -fsS -o /dev/null -H \"{header}\" {alive} || "
                 f"wget -q -O /dev/null --header \"{header}\" {alive}")
        environment[API_TOKEN] = f"${{{API_TOKEN}:?run: taustack up}}"
    return ComposeService(
        name=group.balancer_service,
        image=settings.image,
        profiles=(group.profile,),
        command=nginx_command(steps, upstreams),
        volumes=(f"{conf_path}:/etc/nginx/nginx.conf:ro", *((logs_mount,) if logs_mount else ())),
        ports=(f"{group.bind}:{group.port}:{group.port}",),
        ulimits=(Ulimit("nofile", nofile, nofile),),
        # nginx resolves replica (and router) names at start and on reload: recreating one restarts nginx too, and
        # its watcher (nginx_command) reloads it when one comes back on another address
        depends_on=tuple(Dependency(service, restart=True) for service in upstreams),
        healthcheck=Healthcheck(test=("CMD-SHELL", check), interval="3s", timeout="3s", start_period="10s"),
        labels={"io.taustack.engine": group.engine, "io.taustack.role": "balancer"},
        config=config,
        environment=environment,
        order=BALANCER_KEY_ORDER,
    )


def nginx_command(steps: Sequence[str], upstreams: Sequence[str]) -> tuple[str, ...]:
    """nginx in the foreground after `steps` (shell), and a watcher that reloads it when an upstream's name resolves
    to a new address: nginx resolves names only at start and on reload, and a replica stopped and started, or
    restarted by Docker, may come back on another address (two replicas can swap theirs). Debian's nginx image
    has getent; without it there is no watcher."""
    if not steps and not upstreams:
        return ("nginx", "-g", "daemon off;")
    watch = []
    if upstreams:
        names = " ".join(upstreams)
        watch = [f"if command -v getent >/dev/null; then (last=$$(getent hosts {names} || true); while sleep 2; do "
                 f"now=$$(getent hosts {names}) || continue; if [ \"$$now\" != \"$$last\" ]; then "
                 f"nginx -s reload || true; last=$$now; fi; done) & fi"]
    return ("sh", "-c", "; ".join(["set -e", *steps, *watch, "exec nginx -g 'daemon off;'"]))


def write_secret(variable: str, text: str, path: str) -> str:
    """Shell that writes `text` (a printf format: %s is the secret in $variable) to `path`, after refusing a secret
    that nginx could not read between quotes (the message names the variable, never the value)."""
    refuse = f"echo '{variable}: only letters, digits and {SECRET_CHARS[9:]} can reach nginx' >&2; exit 1"
    return f"case \"$${variable}\" in *[!{SECRET_CHARS}]*) {refuse};; esac; printf '{text}' \"$${variable}\" > {path}"


def router_service(group: ReplicaGroup, router: RouterSpec, read_timeout_s: int) -> ComposeService:
    """vllm-router for the group's requests with an X-Session-ID. Its workers are nginx's per-replica ports (the
    answer names the replica); nginx retries what it fails, so it retries nothing itself, and a failed replica
    is back in its rotation seconds after it answers again (a short circuit-breaker timeout). It checks a worker's
    /health, which each per-replica port answers with the replica's own health check. Nothing of it is published.
    It listens only once a worker answers: until then nginx's least_conn answers its sessions."""
    workers = tuple(f"http://{group.balancer_service}:{REPLICA_TAG_PORT + index}"
                    for index in range(len(group.replicas)))
    liveness = f"http://127.0.0.1:{ROUTER_PORT}/liveness"
    return ComposeService(
        name=group.router_service,
        image=router.image,
        profiles=(group.profile,),
        command=("--host", "0.0.0.0", "--port", str(ROUTER_PORT), "--worker-urls", *workers,
                 "--policy", router.policy, "--health-check-endpoint", "/health",
                 "--health-check-interval-secs", str(router.health_interval_s), "--health-check-timeout-secs", "5",
                 "--health-failure-threshold", "2", "--health-success-threshold", "2",
                 "--worker-startup-check-interval", "1", "--disable-retries", "--cb-timeout-duration-secs", "5",
                 "--request-timeout-secs", str(read_timeout_s), "--prometheus-host", "0.0.0.0",
                 "--prometheus-port", str(ROUTER_METRICS_PORT), "--log-level", "warning"),
        environment={"VLLM_ROUTER_SLL_SESSION_EXPIRATION_IN_S": str(router.session_expiry_s)},
        # it listens once a replica answers through nginx (which starts after it): up to its startup timeout, 600 s
        healthcheck=Healthcheck(test=("CMD", "curl", "-fsS", "-o", "/dev/null", liveness), interval="3s",
                                timeout="3s", start_period="600s"),
        labels={"io.taustack.engine": group.engine, "io.taustack.role": "router"},
    )


def compose_document(compose: ComposeFile, stack_file: str) -> str:
    """The compose file's text: the header (naming the stack file it came from), then the services and volumes as
    compose reads them."""
    document = yaml.safe_dump(compose.to_compose(), sort_keys=False, default_flow_style=False, width=120)
    return HEADER.format(stack_file=stack_file) + document
