"""One request, measured: time to first token, end-to-end latency, output tokens, replica, error kind."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from taustack.httperrors import http_error_kind, status_kind

Api = Literal["openai", "ollama"]
REPLICA_HEADER = "x-taustack-replica"


@dataclass(frozen=True)
class Sample:
    started: float
    ttft_s: float
    e2e_s: float
    output_tokens: int
    replica: str
    error: str = ""
    turn: int = 0  # the request's place in its episode (0: the first)
    episode: str = ""  # the replayed episode it belongs to (its session id, sent or not); "" for a lone prompt

    @property
    def ok(self) -> bool:
        return not self.error


def request_body(api: Api, model: str, messages: Any, stream: bool, max_tokens: int) -> dict[str, Any]:
    if api == "ollama":
        return {"model": model, "messages": list(messages), "stream": stream, "options": {"num_predict": max_tokens}}
    body: dict[str, Any] = {"model": model, "messages": list(messages), "stream": stream, "max_tokens": max_tokens}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def chunk_tokens(api: Api, line: str) -> tuple[int, int | None]:
    """(content pieces in this streamed line, the usage total if the line carries one)."""
    if api == "ollama":
        event = json.loads(line)
        if event.get("done"):
            return 0, event.get("eval_count")
        return (1 if (event.get("message") or {}).get("content") else 0), None
    if not line.startswith("data: ") or line.strip() == "data: [DONE]":
        return 0, None
    event = json.loads(line[6:])
    usage = (event.get("usage") or {}).get("completion_tokens")
    pieces = sum(1 for choice in event.get("choices") or []
                 if (choice.get("delta") or {}).get("content") or (choice.get("delta") or {}).get("tool_calls"))
    return pieces, usage


async def send(client: httpx.AsyncClient, api: Api, url: str, model: str, messages: Any, stream: bool,
               max_tokens: int, session: str | None, headers: dict[str, str]) -> Sample:
    """One chat request; never raises: failures come back as a Sample with an error kind."""
    path = "/api/chat" if api == "ollama" else "/v1/chat/completions"
    request_headers = {**headers, **({"X-Session-ID": session} if session else {})}
    body = request_body(api, model, messages, stream, max_tokens)
    started = time.perf_counter()
    first = 0.0
    tokens, usage = 0, None
    replica = ""
    try:
        async with client.stream("POST", url + path, json=body, headers=request_headers) as response:
            replica = response.headers.get(REPLICA_HEADER, "")
            if response.status_code >= 400:
                await response.aread()
                return Sample(started, 0.0, time.perf_counter() - started, 0, replica,
                              status_kind(response.status_code))
            if stream:
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    pieces, total = chunk_tokens(api, line)
                    if pieces and not first:
                        first = time.perf_counter() - started
                    tokens += pieces
                    usage = total if total is not None else usage
            else:
                answer = json.loads(await response.aread())
                first = time.perf_counter() - started
                usage = answer.get("eval_count") if api == "ollama" else (answer.get("usage") or {}).get(
                    "completion_tokens")
    except (httpx.HTTPError, ValueError) as exc:
        return Sample(started, first, time.perf_counter() - started, tokens, replica, http_error_kind(exc))
    elapsed = time.perf_counter() - started
    return Sample(started, first or elapsed, elapsed, int(usage if usage is not None else tokens), replica)
