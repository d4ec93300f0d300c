"""`taustack demo`: real tau2 mock tickets sent as tau2's solo agent sends them (tool_choice auto: the model decides
to call), a chat, a streamed chat and a forced tool call through the balancer, and a table."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
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
    correct: bool | None = None  # a ticket: whether the call is the task's gold action

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
    tokens = int(answer.get("usage", {}).get("completion_tokens", 0))
    if not calls:  # llama-server takes no named tool_choice (no grammar): the model decides, and may not call
        return DemoResult("tool call", replica_of(response), f"(no tool call, finish_reason "
                          f"{choice.get('finish_reason')}) {choice['message'].get('content')}", tokens, total, total)
    function = calls[0]["function"]
    return DemoResult("tool call", replica_of(response), f"{function['name']}({function['arguments']})",
                      tokens, total, total)


def ticket(client: httpx.Client, url: str, model: str, task: dict[str, Any]) -> DemoResult:
    """A real mock ticket in tau2's solo request (tool_choice auto, no grammar forcing a call): the call the model
    makes, and whether it is the task's gold action."""
    from taustack.tasks.solo_request import matches, solo_request

    messages, tools = solo_request(task["ticket"])
    started = time.perf_counter()
    response = client.post(f"{url}/v1/chat/completions", json={
        "model": model, "messages": messages, "tools": tools, "tool_choice": "auto", "temperature": 0.0,
        "max_tokens": 96})
    total = time.perf_counter() - started
    answer = checked(response, f"ticket {task['id']}")
    message = answer["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    tokens = int(answer.get("usage", {}).get("completion_tokens", 0))
    if not calls:
        return DemoResult(f"ticket {task['id']}", replica_of(response), f"(no tool call) {message.get('content')}",
                          tokens, total, total, correct=False)
    function = calls[0]["function"]
    try:
        arguments = json.loads(function["arguments"])
    except ValueError:
        arguments = {}
    right = isinstance(arguments, dict) and matches(function["name"], arguments, task["actions"][0])
    return DemoResult(f"ticket {task['id']}", replica_of(response), f"{function['name']}({function['arguments']})",
                      tokens, total, total, correct=right)


def checked(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise TaustackError(f"{what} answered {response.status_code}: {response.text[:200]}")
    return dict(response.json())


def replica_of(response: httpx.Response) -> str:
    return str(response.headers.get("x-taustack-replica", "?"))


DEMO_TICKETS = ("create_task_1", "update_task_1")  # real mock tickets whose calls copy a title and ids
RANDOM_MODEL = "random weights, its words are noise"


def describe_model(model_file: Path | None) -> str:
    """What the demo serves: the demo model (its demo.json beside the GGUF says how it was made), or not."""
    record = model_file.parent / "demo.json" if model_file is not None else None
    if record is None or not record.is_file():
        return RANDOM_MODEL
    made = json.loads(record.read_text(encoding="utf-8"))
    minutes = float(made.get("total_seconds", 0)) / 60
    return (f"trained here from scratch on generated tau2 mock tasks, {made.get('parameters', '?')} parameters, "
            f"{minutes:.0f} min on the CPU: {record}")


def run_demo(url: str, model: str, console: Console, about: str = RANDOM_MODEL) -> list[DemoResult]:
    """Send the requests through the balancer at `url` (real mock tickets first) and print what came back: each
    ticket with the call the model made and tau2's gold call, then a table."""
    from taustack.tasks.solo_request import real_mock_tasks

    tasks = {task["id"]: task for task in real_mock_tasks()}
    try:
        with httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0), trust_env=False) as client:
            results = [ticket(client, url, model, tasks[name]) for name in DEMO_TICKETS if name in tasks]
            results += [chat(client, url, model), stream(client, url, model), tool_call(client, url, model)]
    except httpx.HTTPError as exc:
        raise TaustackError(f"demo request to {url} failed: {exc!r}") from None
    for result in results:
        if result.correct is not None:
            task = tasks[result.kind.removeprefix("ticket ")]
            gold = task["actions"][0]
            console.print(f"[bold]{result.kind}[/bold]: ", end="")
            console.print(task["ticket"], markup=False, highlight=False)
            console.print(f"  model (tool_choice auto, served by {result.replica}): ", end="")
            console.print(result.answer, markup=False, highlight=False)
            console.print(f"  tau2's gold action: {gold['name']}({json.dumps(gold['arguments'])})  ->  "
                          f"{'[green]right[/green]' if result.correct else '[red]wrong[/red]'}")
            continue
        console.print(f"[bold]{result.kind}[/bold] (served by {result.replica}): ", end="")
        console.print(result.answer, markup=False, highlight=False)
    table = Table(title=f"taustack demo: {url} (model {model}: {about})", title_justify="left")
    for column in ("request", "replica", "tokens", "first token", "total", "tokens/s", "right call"):
        table.add_column(column)
    for r in results:
        table.add_row(r.kind, r.replica, str(r.tokens), f"{r.first_token_s * 1000:.0f} ms",
                      f"{r.total_s * 1000:.0f} ms", f"{r.tokens_per_s:.0f}",
                      "-" if r.correct is None else ("yes" if r.correct else "no"))
    console.print(table)
    return results
