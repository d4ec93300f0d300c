"""The conformance check per group: asked through the balancer with what a client sends, a `require` failure blocks,
a `warn` one only shows, and a group that is off (or has no tool parser) is never asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taustack.runtime.status import tool_rows
from taustack.runtime.toolcheck import check_groups
from tests.unit.runtime.probe_data import group

SEEN: list[dict[str, str]] = []


class TextOnly(BaseHTTPRequestHandler):
    """An engine that answers a forced call with text (as llama-server does with a model that never calls tools)."""

    def do_POST(self) -> None:
        SEEN.append({"path": self.path, "authorization": self.headers.get("Authorization", "")})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        message = {"role": "assistant", "content": "Hello there"}
        if body.get("stream"):
            payload = (f"data: {json.dumps({'choices': [{'index': 0, 'delta': message}]})}\n\n"
                       "data: [DONE]\n\n").encode()
        else:
            payload = json.dumps({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def engine() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TextOnly)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    SEEN.clear()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def test_a_required_check_blocks_and_a_warned_one_shows(engine: int) -> None:
    base = replace(group(port=engine), bind="127.0.0.1", models=("tiny",))
    required = replace(base, engine="vllm", tool_check="require", tool_parser="hermes")
    warned = replace(base, engine="llamacpp", tool_check="warn", tool_parser="jinja (llama-server)")
    off = replace(base, engine="ollama", tool_check="off")
    results = check_groups([required, warned, off], lambda g: {"Authorization": "Bearer sk-client"})
    assert [r.engine for r in results] == ["vllm", "llamacpp"]  # off: never asked
    assert all(r.problem == "no tool call (content: 'Hello there')" for r in results)
    assert results[0].blocks and not results[1].blocks
    assert results[0].line() == "vllm tool calls (model tiny, parser hermes): no tool call (content: 'Hello there')"
    rows = {row.service: row for row in tool_rows(results)}
    assert not rows["vllm-tool-calls"].ready and rows["llamacpp-tool-calls"].ready
    assert rows["llamacpp-tool-calls"].problem.startswith("warn: no tool call")
    assert {s["path"] for s in SEEN} == {"/v1/chat/completions"}
    assert {s["authorization"] for s in SEEN} == {"Bearer sk-client"}


def test_an_engine_that_does_not_answer_is_named(engine: int) -> None:
    silent = replace(group(port=1), bind="127.0.0.1", models=("tiny",), tool_check="require", tool_parser="hermes")
    (result,) = check_groups([silent], lambda g: {})
    assert result.blocks and result.problem  # a connection error, in words
