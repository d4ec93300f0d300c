"""The replay endpoint: an OpenAI-compatible /v1/chat/completions server (stdlib http.server, a thread of the bench
process) that answers tau2's user simulator with the recorded user turns and its agent with the recorded assistant
messages, possibly faulted.

Each replayed episode is a ReplayRun registered under a key that is part of its base URL
(`http://127.0.0.1:PORT/replay/KEY/v1`), so concurrent episodes cannot mix. The model name says which side asks:
one ending in "user" (openai/replay-user) is the user simulator, any other the agent. Every request is checked
(matching.py); the first divergence fails the run, is recorded, and from then on every request of the run is
answered HTTP 400. A run can also enforce a context limit, answering over-long agent requests with vLLM's 400.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .episodes import Episode, Turn, flipped
from .faults import FaultPlan, HttpFailure, apply
from .matching import Divergence, completion_tokens_requested, estimate_tokens, match_agent, match_user

PATH = re.compile(r"/replay/([A-Za-z0-9_-]+)/v1/chat/completions")


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    action: str = "respond"  # respond | reset | truncate


@dataclass(frozen=True)
class InjectedFault:
    turn: int
    attempt: int
    item: str
    kind: str


def context_error(limit: int, messages_tokens: int, completion_tokens: int) -> bytes:
    """vLLM's body for a request over the model's context (HTTP 400)."""
    return json.dumps({
        "object": "error",
        "message": f"This model's maximum context length is {limit} tokens. However, you requested "
                   f"{messages_tokens + completion_tokens} tokens ({messages_tokens} in the messages, "
                   f"{completion_tokens} in the completion). Please reduce the length of the messages or completion.",
        "type": "BadRequestError", "param": None, "code": 400}).encode()


def error_reply(status: int, message: str) -> Reply:
    return Reply(status, json.dumps({"object": "error", "message": message, "type": "BadRequestError",
                                     "param": None, "code": status}).encode())


def wire_message(message: dict[str, Any]) -> dict[str, Any]:
    """A recorded tau2 message as the assistant message of an OpenAI chat completion."""
    calls = [{"id": call.get("id") or f"call_{number}", "type": "function",
              "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])}}
             for number, call in enumerate(message.get("tool_calls") or [])]
    return {"role": "assistant", "content": message.get("content"), "tool_calls": calls or None}


def completion(model: str, message: dict[str, Any], prompt_tokens: int, choices: int = 1) -> bytes:
    calls = message.get("tool_calls")
    output = len(json.dumps(calls)) if calls else len(message.get("content") or "")
    return json.dumps({
        "id": f"chatcmpl-replay-{time.monotonic_ns()}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": index, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if calls else "stop"} for index in range(choices)],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": output // 4 + 1,
                  "total_tokens": prompt_tokens + output // 4 + 1}}).encode()


@dataclass
class ReplayRun:
    """One episode replayed for one agent: what it is checked against, its faults and what happened."""

    episode: Episode
    policy: str
    scenario: str
    agent_tools: Sequence[str]
    user_tools: Sequence[str]
    plan: FaultPlan | None = None
    context_limit: int | None = None
    failure: Divergence | None = None
    faults: list[InjectedFault] = field(default_factory=list)
    attempts: dict[tuple[str, int], int] = field(default_factory=dict)
    agent_requests: int = 0
    user_requests: int = 0
    reprompt_requests: int = 0
    trimmed_requests: int = 0
    most_dropped: int = 0
    same_side_joins: int = 0  # trimmed requests whose gap joined two user (or two agent) messages
    context_rejections: int = 0
    first_tokens: int = 0
    peak_tokens: int = 0
    confirmed_before: int = 0  # every assistant turn below this index was dispatched as recorded (a later request)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.agent_view: list[Turn] = self.episode.agent_view()
        self.user_flipped: list[Turn] = [flipped(turn) for turn in self.episode.user_view()]
        self._agent_messages = [m for m in self.episode.messages if m["role"] == "assistant"
                                or (m["role"] == "user" and not m.get("tool_calls"))
                                or (m["role"] == "tool" and m.get("requestor") == "assistant")]
        self._user_messages = [m for m in self.episode.messages if m["role"] == "user"
                               or (m["role"] == "assistant" and not m.get("tool_calls"))
                               or (m["role"] == "tool" and m.get("requestor") == "user")]

    def fail(self, divergence: Divergence) -> Reply:
        if self.failure is None:
            self.failure = divergence
        return error_reply(400, f"replay failed: {divergence}")

    def handle(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            if self.failure is not None:
                return error_reply(400, f"replay failed earlier: {self.failure}")
            model = str(body.get("model") or "")
            if model.endswith("user"):
                return self._answer_user(body, model)
            return self._answer_agent(body, model)

    def _answer_user(self, body: dict[str, Any], model: str) -> Reply:
        self.user_requests += 1
        try:
            index = match_user(body, self.user_flipped, self.scenario, self.user_tools)
        except Divergence as divergence:
            return self.fail(divergence)
        return Reply(200, completion(model, wire_message(self._user_messages[index]), estimate_tokens(body)))

    def _answer_agent(self, body: dict[str, Any], model: str) -> Reply:
        self.agent_requests += 1
        tokens = estimate_tokens(body)
        wanted = completion_tokens_requested(body)
        if self.context_limit is not None and tokens + wanted > self.context_limit:
            self.context_rejections += 1
            return Reply(400, context_error(self.context_limit, tokens, wanted))
        try:
            matched = match_agent(body, self.agent_view, self.policy, self.agent_tools)
        except Divergence as divergence:
            return self.fail(divergence)
        self.first_tokens = self.first_tokens or tokens
        self.confirmed_before = max(self.confirmed_before, matched.turn)
        self.peak_tokens = max(self.peak_tokens, tokens)
        self.reprompt_requests += 1 if matched.reprompts else 0
        if matched.dropped:
            self.trimmed_requests += 1
            self.most_dropped = max(self.most_dropped, matched.dropped)
            self.same_side_joins += int(matched.same_side_join)
        attempt = self.attempts.get(("agent", matched.turn), 0)
        self.attempts[("agent", matched.turn)] = attempt + 1
        message = wire_message(self._agent_messages[matched.turn])
        item = self.plan.draw(self.episode.key, matched.turn, attempt, message) if self.plan else None
        if item is not None:
            faulted = apply(item, message)
            self.faults.append(InjectedFault(matched.turn, attempt, item.id, item.kind))
            if faulted.failure is not None:
                return _failure_reply(faulted.failure)
            assert faulted.message is not None
            message = faulted.message
        return Reply(200, completion(model, message, tokens, int(body.get("n") or 1)))

    def summary(self) -> dict[str, Any]:
        got = self.failure.got if self.failure is not None else None
        return {"failure": None if self.failure is None else str(self.failure),
                "divergent_calls": [[call.name, call.arguments] for call in got.calls] if got is not None else [],
                "failure_category": None if self.failure is None else self.failure.category,
                "faults": [fault.__dict__ for fault in self.faults], "agent_requests": self.agent_requests,
                "user_requests": self.user_requests, "reprompt_requests": self.reprompt_requests,
                "trimmed_requests": self.trimmed_requests, "most_dropped": self.most_dropped,
                "same_side_joins": self.same_side_joins,
                "context_rejections": self.context_rejections, "first_tokens": self.first_tokens,
                "peak_tokens": self.peak_tokens, "confirmed_before": self.confirmed_before}


def _failure_reply(failure: HttpFailure) -> Reply:
    return Reply(failure.status, failure.body, failure.content_type, failure.headers, failure.action)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else every response stalls ~40 ms
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._send(Reply(200, json.dumps({"object": "list", "data": [
            {"id": "replay-agent", "object": "model"}, {"id": "replay-user", "object": "model"}]}).encode()))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        found = PATH.fullmatch(self.path.split("?")[0])
        run = self.server.runs.get(found.group(1)) if found else None
        if run is None:
            self._send(error_reply(404, f"no replay run at {self.path}"))
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._send(error_reply(400, "the request body is not JSON"))
            return
        self._send(run.handle(body))

    def _send(self, reply: Reply) -> None:
        if reply.action == "reset":
            self._reset()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        length = len(reply.body) * 2 if reply.action == "truncate" else len(reply.body)
        self.send_header("Content-Length", str(length))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()
        if reply.action == "truncate":
            self._reset()

    def _reset(self) -> None:
        """Drop the connection with a TCP reset (SO_LINGER 0), no response."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    runs: dict[str, ReplayRun]


class ReplayEndpoint:
    """The server and its runs; start() binds 127.0.0.1 on a free port and serves from a daemon thread."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.runs = {}
        self._thread = threading.Thread(target=self._server.serve_forever, name="replay-endpoint", daemon=True)
        self._counter = 0

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> ReplayEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def register(self, run: ReplayRun) -> str:
        """A base URL (api_base) whose requests go to RUN only."""
        self._counter += 1
        key = f"r{self._counter}"
        self._server.runs[key] = run
        return f"http://127.0.0.1:{self.port}/replay/{key}/v1"

    def forget(self, url: str) -> None:
        self._server.runs.pop(url.rstrip("/").split("/")[-2], None)
