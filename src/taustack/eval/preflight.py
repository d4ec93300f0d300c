"""Before any simulation: each endpoint forces a named tool call and answers it well-formed, streamed and not.

A model that cannot return a tool_calls message here would fail every task for reasons that are not the agent's;
the run stops at once, naming the endpoint and what it answered.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from taustack.errors import TaustackError
from taustack.eval.endpoints import Endpoint
from taustack.httperrors import describe_http_error

TOOL = {"type": "function", "function": {
    "name": "get_order", "description": "Look an order up by its id.",
    "parameters": {"type": "object", "properties": {
        "order_id": {"type": "string", "enum": ["#W1", "#W2"]}, "rush": {"type": "boolean"}},
        "required": ["order_id", "rush"]}}}
FORCED = {"type": "function", "function": {"name": "get_order"}}
MESSAGES = [{"role": "user", "content": "Look up order #W1, not rushed."}]


def redact(text: str, endpoint: Endpoint) -> str:
    return text.replace(endpoint.key, "[key]") if endpoint.key else text


def request_body(endpoint: Endpoint, stream: bool, tools: bool) -> dict[str, Any]:
    args = {k: v for k, v in endpoint.llm_args().items() if k not in ("api_base", "num_retries", "seed")}
    body: dict[str, Any] = {**args, "model": endpoint.name, "messages": MESSAGES, "stream": stream,
                            "max_tokens": 64}
    if tools:
        body.update(tools=[TOOL], tool_choice=FORCED)
    return body


def headers(endpoint: Endpoint) -> dict[str, str]:
    return {"Authorization": f"Bearer {endpoint.key}"} if endpoint.key else {}


def tool_call_of(message: dict[str, Any]) -> tuple[str, Any]:
    """(name, parsed arguments) of a message's first tool call; ValueError saying what is missing."""
    calls = message.get("tool_calls") or []
    if not calls:
        raise ValueError(f"no tool call (content: {str(message.get('content'))[:80]!r})")
    function = calls[0].get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "")
    except json.JSONDecodeError:
        raise ValueError(f"tool call arguments are not JSON: {str(function.get('arguments'))[:80]!r}") from None
    if not isinstance(arguments, dict):
        raise ValueError("tool call arguments are not a JSON object")
    return str(function.get("name")), arguments


def streamed_message(response: httpx.Response) -> dict[str, Any]:
    """The message a stream of chat.completion.chunk events adds up to (content and tool-call deltas)."""
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    for line in response.iter_lines():
        if not line.startswith("data:") or line.strip() == "data: [DONE]":
            continue
        chunk = json.loads(line[5:])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(int(call.get("index", 0)), {"function": {"name": "", "arguments": ""}})
                function = call.get("function") or {}
                name = function.get("name") or ""
                if name != slot["function"]["name"]:  # llama-cpp-python repeats the whole name in every delta
                    slot["function"]["name"] += name
                slot["function"]["arguments"] += function.get("arguments") or ""
    return {"content": "".join(content), "tool_calls": [calls[i] for i in sorted(calls)]}


def check_tool_calls(client: httpx.Client, endpoint: Endpoint) -> None:
    url = f"{endpoint.base_url}/chat/completions"
    answer = client.post(url, json=request_body(endpoint, False, True), headers=headers(endpoint))
    if answer.status_code != 200:
        raise ValueError(f"answered {answer.status_code}: {answer.text[:200]}")
    plain = tool_call_of((answer.json().get("choices") or [{}])[0].get("message") or {})
    with client.stream("POST", url, json=request_body(endpoint, True, True), headers=headers(endpoint)) as stream:
        if stream.status_code != 200:
            stream.read()
            raise ValueError(f"answered {stream.status_code} when streaming: {stream.text[:200]}")
        streamed = tool_call_of(streamed_message(stream))
    if plain[0] != "get_order" or streamed[0] != "get_order":
        raise ValueError(f"called {plain[0]!r} (streamed: {streamed[0]!r}), not the forced 'get_order'")
    if set(plain[1]) != set(streamed[1]):
        raise ValueError(f"streamed and non-streamed tool calls disagree: {plain[1]} against {streamed[1]}")


def check_answers(client: httpx.Client, endpoint: Endpoint) -> None:
    answer = client.post(f"{endpoint.base_url}/chat/completions", json=request_body(endpoint, False, False),
                         headers=headers(endpoint))
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
