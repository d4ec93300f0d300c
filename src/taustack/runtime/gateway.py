"""The gateway is ready when LiteLLM is alive and a model of the stack answers through it."""

from __future__ import annotations

import time

import httpx

from taustack.engines.base import describe_http_error
from taustack.stackfile.gateway import GatewaySpec


def gateway_url(gateway: GatewaySpec) -> str:
    return f"http://127.0.0.1:{gateway.port}"


def probe_gateway(gateway: GatewaySpec, key: str | None, deep: bool) -> str:
    """"ready" or what is wrong: liveliness, then (deep) one real completion of a local route."""
    url = gateway_url(gateway)
    try:
        with httpx.Client(timeout=httpx.Timeout(60.0, connect=2.0), trust_env=False) as client:
            client.get(f"{url}/health/liveliness").raise_for_status()
            local = [route for route in gateway.models if route.engine in ("ollama", "llamacpp", "vllm")]
            if deep and local:
                body = {"model": local[0].name, "messages": [{"role": "user", "content": "ready?"}], "max_tokens": 1}
                answer = client.post(f"{url}/v1/chat/completions", json=body,
                                     headers={"Authorization": f"Bearer {key}"})
                if answer.status_code != 200:
                    return f"{local[0].name} answered {answer.status_code} through the gateway"
    except httpx.HTTPError as exc:
        return describe_http_error(exc)
    return "ready"


def wait_gateway(gateway: GatewaySpec, key: str | None, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = probe_gateway(gateway, key, deep=True)
        if answer == "ready" or time.monotonic() >= deadline:
            return answer
        time.sleep(0.5)
