"""The rendered compose file: every replica service and the balancer in front of each group."""

from __future__ import annotations

from typing import Any

import yaml

from taustack.engines.base import ReplicaGroup
from taustack.render.nginx import AUTH_FILE
from taustack.secrets import API_TOKEN
from taustack.stackfile.balancer import BalancerSpec

HEADER = (
    "# Rendered by `taustack render` from serving/stack.yaml: do not edit.\n"
    "# taustack passes it to docker compose after the root compose.yaml (-f compose.yaml -f this file).\n"
)


def balancer_service(group: ReplicaGroup, settings: BalancerSpec, conf_path: str) -> dict[str, Any]:
    """nginx with the rendered nginx.conf; curl exists in nginx's Debian image, wget in its Alpine one."""
    alive = f"http://127.0.0.1:{group.port}/-/alive"
    nofile = max(8192, settings.worker_connections * 2 + 1024)
    command = ["nginx", "-g", "daemon off;"]
    check = f"curl -fsS -o /dev/null {alive} || wget -q -O /dev/null {alive}"
    environment = {}
    if group.auth:
        # the token reaches nginx through the environment only: written to a file inside the container
        write_map = (f"printf 'map $$http_authorization $$taustack_authorized {{\n  default 0;\n"
                     f"  \"Bearer %s\" 1;\n}}\n' \"$${API_TOKEN}\" > {AUTH_FILE}")
        command = ["sh", "-c", f"{write_map} && exec nginx -g 'daemon off;'"]
        header = f"Authorization: Bearer $${API_TOKEN}"
        check = (f"curl -fsS -o /dev/null -H \"{header}\" {alive} || "
                 f"wget -q -O /dev/null --header \"{header}\" {alive}")
        environment[API_TOKEN] = f"${{{API_TOKEN}:?run: taustack up}}"
    service: dict[str, Any] = {
        "image": settings.image,
        "profiles": [group.profile],
        "restart": "unless-stopped",
        "command": command,
        "volumes": [f"{conf_path}:/etc/nginx/nginx.conf:ro"],
        "ports": [f"{group.bind}:{group.port}:{group.port}"],
        "ulimits": {"nofile": {"soft": nofile, "hard": nofile}},
        # nginx resolves replica names once, at start: recreating a replica (new address) restarts nginx too
        "depends_on": {replica.service: {"condition": "service_started", "restart": True}
                       for replica in group.replicas},
        "healthcheck": {
            "test": ["CMD-SHELL", check],
            "interval": "3s",
            "timeout": "3s",
            "retries": 5,
            "start_period": "10s",
        },
        "labels": {"io.taustack.engine": group.engine, "io.taustack.role": "balancer"},
    }
    if environment:
        service["environment"] = environment
    return service


def compose_document(services: dict[str, Any], volumes: dict[str, Any]) -> str:
    document: dict[str, Any] = {"services": services}
    if volumes:
        document["volumes"] = volumes
    return HEADER + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=120)
