"""The gateway is ready when LiteLLM is alive and a model of the stack answers through it."""

from __future__ import annotations

import httpx

from taustack.httperrors import describe_http_error
from taustack.runtime.polling import poll_until
from taustack.stackfile.base import published_url
from taustack.stackfile.gateway import GatewaySpec


def gateway_url(gateway: GatewaySpec) -> str:
    """Where the controller reaches the gateway: at the address its port is published on."""
    return published_url(gateway.bind, gateway.port)


def probe_gateway(gateway: GatewaySpec, key: str | None, deep: bool) -> str:
    """"ready" or what is wrong: liveliness, then (deep) one real completion of a local route."""
    url = gateway_url(gateway)
    try:
        with httpx.Client(timeout=httpx.Timeout(60.0, connect=2.0), trust_env=False) as client:
            # the key on liveliness too: across hosts the gateway's port is a gate that wants one
            auth = {"Authorization": f"Bearer {key}"} if key else {}
            client.get(f"{url}/health/liveliness", headers=auth).raise_for_status()
            local = [route for route in gateway.models if route.engine in ("ollama", "llamacpp", "vllm")]
            if deep and local:
                body = {"model": local[0].name, "messages": [{"role": "user", "content": "ready?"}], "max_tokens": 1}
                answer = client.post(f"{url}/v1/chat/completions", json=body, headers=auth)
                if answer.status_code != 200:
                    return f"{local[0].name} answered {answer.status_code} through the gateway"
    except httpx.HTTPError as exc:
        return describe_http_error(exc)
    return "ready"


def wait_gateway(gateway: GatewaySpec, key: str | None, timeout_s: float) -> str:
    """Probe (deep) until the gateway is "ready" or the time is up; the last answer."""

    def check() -> tuple[bool, str]:
        answer = probe_gateway(gateway, key, deep=True)
        return answer == "ready", answer

    return poll_until(check, timeout_s)[1]
