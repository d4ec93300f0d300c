"""The LiteLLM gateway: its config (routes, router, callbacks) and its compose service.

Routes point at the engines' nginx balancers on the compose network, with the provider prefix each engine says
(Engine.litellm_params); external providers' prefixes are here. Keys are named by variable (`os.environ/NAME`),
never written. Routes were checked when the stack file validated and resolved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from taustack.engines import ENGINE_KINDS
from taustack.engines.base import ReplicaGroup
from taustack.engines.registry import get_engine
from taustack.render.services import ComposeService, Dependency, Healthcheck
from taustack.secrets import API_TOKEN, MASTER_KEY
from taustack.stackfile.gateway import GatewayRoute, GatewaySpec

SERVICE = "gateway"
CONFIG_FILE = "litellm.yaml"
EXTERNAL_PREFIX = {"openai": "openai", "anthropic": "anthropic", "together": "together_ai",
                   "openai-compatible": "openai"}


def litellm_params(route: GatewayRoute, groups: Mapping[str, ReplicaGroup],
                   engine_keys: Mapping[str, str]) -> dict[str, Any]:
    """A route's deployment: the engine's own route to its balancer, or an external provider's prefix."""
    if route.engine in ENGINE_KINDS:
        group = groups[route.engine]
        params = get_engine(route.engine).litellm_params(route.model, group)
        # a balancer on a public bind takes the API token (and sends the engine's own key on itself); one on
        # loopback passes the gateway's header through, so the engine's own key (vLLM's --api-key) goes there
        if group.auth:
            params["api_key"] = f"os.environ/{API_TOKEN}"
        elif route.engine in engine_keys:
            params["api_key"] = f"os.environ/{engine_keys[route.engine]}"
    else:
        params = {"model": f"{EXTERNAL_PREFIX[route.engine]}/{route.model}"}
        if route.api_base:
            params["api_base"] = route.api_base
    variable = route.key_variable()
    if variable:
        params["api_key"] = f"os.environ/{variable}"
    return params


def litellm_config(gateway: GatewaySpec, groups: Mapping[str, ReplicaGroup],
                   engine_keys: Mapping[str, str] | None = None) -> dict[str, Any]:
    router = gateway.router
    config: dict[str, Any] = {
        "model_list": [{"model_name": route.name, "litellm_params": litellm_params(route, groups, engine_keys or {})}
                       for route in gateway.models],
        "router_settings": {
            "routing_strategy": "simple-shuffle",
            "num_retries": router.num_retries,
            "timeout": router.timeout_s,
            "allowed_fails": router.allowed_fails,
            "cooldown_time": router.cooldown_s,
            # retry what failed before any token reached the client: connections and 5xx, never bad requests
            "retry_policy": {
                "InternalServerErrorRetries": router.num_retries,
                "TimeoutErrorRetries": router.num_retries,
                "RateLimitErrorRetries": router.num_retries,
                "BadRequestErrorRetries": 0,
                "AuthenticationErrorRetries": 0,
                "ContentPolicyViolationErrorRetries": 0,
            },
        },
        "litellm_settings": {
            "drop_params": router.drop_params,
            "request_timeout": router.timeout_s,
            "callbacks": ["taustack_gateway.affinity", "prometheus"],
            # Prometheus scrapes it on the compose network; the published port is loopback by default
            "require_auth_for_metrics_endpoint": False,
        },
        "general_settings": {"master_key": f"os.environ/{MASTER_KEY}"},
    }
    if gateway.fallbacks:
        config["router_settings"]["fallbacks"] = [{name: targets} for name, targets in gateway.fallbacks.items()]
    return config


def config_document(config: dict[str, Any]) -> str:
    header = "# Rendered by `taustack render` from the stack file's gateway section: do not edit.\n"
    return header + yaml.safe_dump(config, sort_keys=False, width=120)


def gateway_service(gateway: GatewaySpec, groups: Sequence[ReplicaGroup], config_path: str, config: str,
                    engine_keys: Mapping[str, str] | None = None) -> ComposeService:
    """LiteLLM with the rendered config (`config`: its hash), after every balancer it routes to."""
    key_variables = sorted({v for route in gateway.models if (v := route.key_variable())}
                           | set((engine_keys or {}).values()))
    environment = {MASTER_KEY: f"${{{MASTER_KEY}:?run: taustack key}}", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    environment.update({name: f"${{{name}:-}}" for name in key_variables})
    if any(group.auth for group in groups):
        environment[API_TOKEN] = f"${{{API_TOKEN}:?run: taustack up}}"
    alive = f"http://127.0.0.1:{gateway.port}/health/liveliness"
    return ComposeService(
        name=SERVICE,
        image=gateway.image,
        profiles=(SERVICE,),
        command=("--config", "/etc/litellm/config.yaml", "--port", str(gateway.port),
                 "--num_workers", str(gateway.workers)),
        environment=environment,
        volumes=(f"{config_path}:/etc/litellm/config.yaml:ro",),
        ports=(f"{gateway.bind}:{gateway.port}:{gateway.port}",),
        depends_on=tuple(Dependency(group.balancer_service) for group in groups),
        healthcheck=Healthcheck(test=("CMD", "curl", "-fsS", "-o", "/dev/null", alive), interval="3s",
                                start_period="90s"),
        labels={"io.taustack.engine": SERVICE, "io.taustack.role": "gateway"},
        config=config,
    )
