"""`taustack demo`: a chat, a streamed chat and a forced tool call through the balancer, and a table."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from taustack.errors import TaustackError

TOOL = {
    "type": "function",
    "function": {
        "name": "set_priority",
        "description": "Set the priority of the user's ticket.",
        "parameters": {
            "type": "object",
            "properties": {"level": {"type": "string", "enum": ["low", "high"]}, "notify": {"type": "boolean"}},
            "required": ["level", "notify"],
        },
    },
}
MESSAGES = [{"role": "user", "content": "Hello! My order has not arrived, can you help?"}]


@dataclass(frozen=True)
class DemoResult:
    kind: str
    replica: str
    answer: str
    tokens: int
    first_token_s: float
    total_s: float

    @property
    def tokens_per_s(self) -> float:
        generating = self.total_s - self.first_token_s
        return self.tokens / generating if generating > 0 and self.tokens > 1 else self.tokens / self.total_s


def chat(client: httpx.Client, url: str, model: str) -> DemoResult:
    started = time.perf_counter()
    response = client.post(f"{url}/v1/chat/completions",
                           json={"model": model, "messages": MESSAGES, "max_tokens": 32})
    total = time.perf_counter() - started
    body = checked(response, "chat")
    tokens = int(body.get("usage", {}).get("completion_tokens", 0))
    answer = body["choices"][0]["message"].get("content") or ""
    return DemoResult("chat", replica_of(response), answer, tokens, total, total)


def stream(client: httpx.Client, url: str, model: str) -> DemoResult:
    started = time.perf_counter()
    first = 0.0
    pieces: list[str] = []
    body = {"model": model, "messages": MESSAGES, "max_tokens": 32, "stream": True}
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            raise TaustackError(f"streaming request answered {response.status_code}: {response.read()[:200]!r}")
        replica = replica_of(response)
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0].get("delta") or {}
            if delta.get("content"):
                first = first or time.perf_counter() - started
                pieces.append(delta["content"])
    total = time.perf_counter() - started
    return DemoResult("stream", replica, "".join(pieces), len(pieces), first or total, total)


def tool_call(client: httpx.Client, url: str, model: str) -> DemoResult:
    started = time.perf_counter()
    body = {"model": model, "messages": MESSAGES, "max_tokens": 64, "tools": [TOOL],
            "tool_choice": {"type": "function", "function": {"name": TOOL["function"]["name"]}}}  # type: ignore[index]
    response = client.post(f"{url}/v1/chat/completions", json=body)
    total = time.perf_counter() - started
    answer = checked(response, "tool call")
    choice = answer["choices"][0]
    calls = choice["message"].get("tool_calls") or []
    if choice.get("finish_reason") != "tool_calls" or not calls:
        raise TaustackError(f"tool call: finish_reason {choice.get('finish_reason')!r}, no tool call returned")
    function = calls[0]["function"]
    tokens = int(answer.get("usage", {}).get("completion_tokens", 0))
    return DemoResult("tool call", replica_of(response), f"{function['name']}({function['arguments']})",
                      tokens, total, total)


def checked(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise TaustackError(f"{what} answered {response.status_code}: {response.text[:200]}")
    return dict(response.json())


def replica_of(response: httpx.Response) -> str:
    return str(response.headers.get("x-taustack-replica", "?"))


def run_demo(url: str, model: str, console: Console) -> list[DemoResult]:
    """Send the three requests through the balancer at `url` and print what came back."""
    try:
        with httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0), trust_env=False) as client:
            results = [chat(client, url, model), stream(client, url, model), tool_call(client, url, model)]
    except httpx.HTTPError as exc:
        raise TaustackError(f"demo request to {url} failed: {exc!r}") from None
    for result in results:
        console.print(f"[bold]{result.kind}[/bold] (served by {result.replica}): ", end="")
        console.print(result.answer, markup=False, highlight=False)
    table = Table(title=f"taustack demo: {url} (model {model}: random weights, its words are noise)",
                  title_justify="left")
    for column in ("request", "replica", "tokens", "first token", "total", "tokens/s"):
        table.add_column(column)
    for r in results:
        table.add_row(r.kind, r.replica, str(r.tokens), f"{r.first_token_s * 1000:.0f} ms",
                      f"{r.total_s * 1000:.0f} ms", f"{r.tokens_per_s:.0f}")
    console.print(table)
    return results
