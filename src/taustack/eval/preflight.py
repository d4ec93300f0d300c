"""Before any simulation: each agent and user endpoint passes the stack's tool-calling conformance check (a forced
call, well-formed and following its schema, streamed and not: engines.toolcheck), and a judge answers.

A model that cannot return a tool_calls message here would fail every task for reasons that are not the agent's;
the run stops at once, naming the endpoint and what it answered.
"""

from __future__ import annotations

from typing import Any

import httpx

from taustack.engines.toolcheck import MESSAGES, check_forced_call
from taustack.errors import TaustackError
from taustack.eval.endpoints import Endpoint
from taustack.httperrors import describe_http_error


def redact(text: str, endpoint: Endpoint) -> str:
    return text.replace(endpoint.key, "[key]") if endpoint.key else text


def endpoint_args(endpoint: Endpoint) -> dict[str, Any]:
    """The run's own sampling arguments, as the agent sends them (transport settings left out)."""
    return {k: v for k, v in endpoint.llm_args().items() if k not in ("api_base", "num_retries", "seed")}


def headers(endpoint: Endpoint) -> dict[str, str]:
    return {"Authorization": f"Bearer {endpoint.key}"} if endpoint.key else {}


def check_tool_calls(client: httpx.Client, endpoint: Endpoint) -> None:
    """The stack's conformance check (engines.toolcheck) against this endpoint, with the run's arguments."""
    check_forced_call(client, endpoint.base_url, endpoint.name, headers(endpoint), endpoint_args(endpoint))


def check_answers(client: httpx.Client, endpoint: Endpoint) -> None:
    body = {**endpoint_args(endpoint), "model": endpoint.name, "messages": MESSAGES, "max_tokens": 64}
    answer = client.post(f"{endpoint.base_url}/chat/completions", json=body, headers=headers(endpoint))
    if answer.status_code != 200:
        raise ValueError(f"answered {answer.status_code}: {answer.text[:200]}")
    if not ((answer.json().get("choices") or [{}])[0].get("message") or {}).get("content"):
        raise ValueError("answered with no content")


def preflight(endpoints: list[Endpoint], timeout_s: float = 120.0) -> None:
    """Every agent and user endpoint forces a tool call; a judge answers; the first failure is a TaustackError."""
    seen: set[tuple[str, str]] = set()
    with httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0), trust_env=False) as client:
        for endpoint in endpoints:
            if (endpoint.base_url, endpoint.name) in seen and endpoint.role != "judge":
                continue
            seen.add((endpoint.base_url, endpoint.name))
            try:
                (check_answers if endpoint.role == "judge" else check_tool_calls)(client, endpoint)
            except httpx.HTTPError as exc:
                what = describe_http_error(exc)
                raise TaustackError(f"preflight: {endpoint.role} model {endpoint.name} at {endpoint.base_url}: "
                                    f"{what} (--skip-preflight to run anyway)") from None
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise TaustackError(f"preflight: {endpoint.role} model {endpoint.name} at {endpoint.base_url}: "
                                    f"{redact(str(exc), endpoint)} (--skip-preflight to run anyway)") from None
