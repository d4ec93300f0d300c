"""The LiteLLM gateway: its config (routes, router, callbacks) and its compose service.

Routes point at the engines' nginx balancers on the compose network, with the provider prefix LiteLLM needs for
each engine: `ollama_chat/` with an api_base without /v1 (the `ollama/` prefix drops tools), `openai/` for
llama.cpp's OpenAI API. Keys are named by variable (`os.environ/NAME`), never written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from taustack.engines.base import ReplicaGroup
from taustack.errors import SpecError
from taustack.render.services import ComposeService, Dependency, Healthcheck
from taustack.secrets import API_TOKEN, MASTER_KEY
from taustack.stackfile.gateway import GatewayRoute, GatewaySpec
from taustack.stackfile.stack import StackSpec

SERVICE = "gateway"
CONFIG_FILE = "litellm.yaml"
EXTERNAL_PREFIX = {"openai": "openai", "anthropic": "anthropic", "together": "together_ai",
                   "openai-compatible": "openai"}


def engine_models(spec: StackSpec) -> dict[str, set[str]]:
    """What each local engine serves, by the engine's own model names."""
    served: dict[str, set[str]] = {}
    if spec.ollama is not None:
        served["ollama"] = {name if ":" in name else f"{name}:latest" for name in spec.ollama.models}
    if spec.llamacpp is not None:
        served["llamacpp"] = {spec.llamacpp.served_name()}
    if spec.vllm is not None:
        served["vllm"] = {spec.vllm.served_name()}
    return served


def check_routes(spec: StackSpec, gateway: GatewaySpec, environment: Mapping[str, str]) -> None:
    """Every route reaches an engine of this stack serving its model, or a provider whose key is set."""
    served = engine_models(spec)
    for index, route in enumerate(gateway.models):
        field = f"gateway.models.{index}"
        if route.engine in ("ollama", "llamacpp", "vllm"):
            if route.engine not in served:
                raise SpecError(f"{field}.engine: the stack has no {route.engine} section for {route.name!r}")
            wanted = route.model if route.engine != "ollama" or ":" in route.model else f"{route.model}:latest"
            if wanted not in served[route.engine]:
                listed = ", ".join(sorted(served[route.engine])) or "nothing"
                raise SpecError(f"{field}.model: {route.engine} does not serve {route.model!r} (it serves {listed})")
        variable = route.key_variable()
        if variable and not environment.get(variable):
            raise SpecError(f"{field}.api_key_env: {variable} is not set (in the environment or .env)")


def litellm_params(route: GatewayRoute, groups: Mapping[str, ReplicaGroup],
                   engine_keys: Mapping[str, str]) -> dict[str, Any]:
    if route.engine == "ollama":
        group = groups["ollama"]
        params: dict[str, Any] = {"model": f"ollama_chat/{route.model}",
                                  "api_base": f"http://{group.balancer_service}:{group.port}"}
    elif route.engine == "llamacpp":
        group = groups["llamacpp"]
        params = {"model": f"openai/{route.model}", "api_base": f"http://{group.balancer_service}:{group.port}/v1",
                  "api_key": "no-key"}
    elif route.engine == "vllm":
        group = groups["vllm"]
        params = {"model": f"hosted_vllm/{route.model}",
                  "api_base": f"http://{group.balancer_service}:{group.port}/v1"}
    else:
        params = {"model": f"{EXTERNAL_PREFIX[route.engine]}/{route.model}"}
        if route.api_base:
            params["api_base"] = route.api_base
    if route.engine in ("ollama", "llamacpp", "vllm") and groups[route.engine].auth:
        params["api_key"] = f"os.environ/{API_TOKEN}"
    elif route.engine in engine_keys:  # an engine's own key (vLLM's --api-key)
        params["api_key"] = f"os.environ/{engine_keys[route.engine]}"
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
