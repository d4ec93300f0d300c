"""The tool-calling conformance check (up, status and the eval preflight): how a streamed call adds up (OpenAI sends
the name once; llama-cpp-python in every delta), and each way an answer fails it, named in one line, as real vLLM
0.31 and llama.cpp answered them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from taustack.engines.toolcheck import ToolCallProblem, check_forced_call, forced_call, streamed_message

GOOD = '{"order_id": "#W1", "rush": false}'


def sse(*deltas: dict[str, object], finish: str = "tool_calls") -> str:
    lines = [f"data: {json.dumps({'choices': [{'index': 0, 'delta': d}]})}" for d in deltas]
    lines.append(f"data: {json.dumps({'choices': [{'index': 0, 'delta': {}, 'finish_reason': finish}]})}")
    return "\n\n".join([*lines, "data: [DONE]"])


def call(name: str | None, arguments: str) -> dict[str, object]:
    function = {"arguments": arguments} if name is None else {"name": name, "arguments": arguments}
    return {"tool_calls": [{"index": 0, "function": function}]}


@pytest.mark.parametrize("names", [("get_order", None, None), ("get_order", "get_order", "get_order"),
                                   ("get_", "order", None)])
def test_streamed_tool_calls_add_up(names: tuple[str | None, ...]) -> None:
    pieces = ['{"order_id": ', '"#W1", "rush"', ": false}"]
    response = httpx.Response(200, content=sse(*(call(n, a) for n, a in zip(names, pieces, strict=True))).encode())
    assert forced_call(*streamed_message(response)) == ("get_order", {"order_id": "#W1", "rush": False})


@pytest.mark.parametrize(
    ("message", "finish", "words"),
    [
        ({"content": "I cannot call tools"}, "stop", "no tool call (content: 'I cannot call tools')"),
        ({"content": '<tool_call>{"name": "get_order", "arguments": {"order_id": "#W1'}, "length",
         "the call was cut by max_tokens (256)"),
        ({"content": None, "reasoning": "Let me think about the order"}, "length",
         "the reasoning parser took the whole answer"),
        ({"tool_calls": [{"function": {"name": "get_order", "arguments": '{"order_id": '}}]}, "length",
         "arguments are not JSON"),
        ({"tool_calls": [{"function": {"name": "get_order", "arguments": "false"}}]}, "stop", "not a JSON object"),
        ({"tool_calls": [{"function": {"name": "get_order", "arguments": '{"order_id": "x1", "rush": false}'}}]},
         "stop", "order_id one of"),
        ({"tool_calls": [{"function": {"name": "get_order", "arguments": '{"order_id": "#W1"}'}}]}, "stop",
         "missing ['rush']"),
    ],
)
def test_each_failure_is_named(message: dict[str, Any], finish: str, words: str) -> None:
    with pytest.raises(ToolCallProblem, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        forced_call(message, finish)


def server(answer: Callable[[dict[str, Any]], tuple[dict[str, Any], str]]) -> httpx.Client:
    """An OpenAI-compatible endpoint answering each request's body with (message, finish_reason)."""
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        message, finish = answer(body)
        if not body["stream"]:
            return httpx.Response(200, json={"choices": [{"index": 0, "message": message, "finish_reason": finish}]})
        delta = {k: v for k, v in message.items() if k != "tool_calls"}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": 0, **message["tool_calls"][0]}]
        return httpx.Response(200, content=sse(delta, finish=finish).encode())
    return httpx.Client(transport=httpx.MockTransport(handle))


def tool_message(arguments: str = GOOD) -> dict[str, Any]:
    return {"content": None, "tool_calls": [{"function": {"name": "get_order", "arguments": arguments}}]}


def test_a_conforming_endpoint_passes_and_a_disagreeing_stream_fails() -> None:
    check_forced_call(server(lambda body: (tool_message(), "tool_calls")), "http://e/v1", "m", {})
    other = '{"order_id": "#W2", "rush": true}'
    flaky = server(lambda body: (tool_message(other if body["stream"] else GOOD), "tool_calls"))
    with pytest.raises(ToolCallProblem, match="streamed and non-streamed calls disagree"):
        check_forced_call(flaky, "http://e/v1", "m", {})


def test_a_reasoning_parser_that_swallows_forced_calls_is_named_with_its_cure() -> None:
    """vLLM's qwen3 parser with a model that never closes </think>: no call, unless thinking is turned off."""
    def thinking(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if (body.get("chat_template_kwargs") or {}).get("enable_thinking") is False:
            return tool_message(), "tool_calls"
        return {"content": None, "reasoning": "hmm " * 20}, "length"

    with pytest.raises(ToolCallProblem) as raised:
        check_forced_call(server(thinking), "http://e/v1", "m", {})
    assert "reasoning parser took the whole answer" in str(raised.value)
    assert 'with chat_template_kwargs {"enable_thinking": false} it calls the tool' in str(raised.value)
    hopeless = server(lambda body: ({"content": None, "reasoning": "hmm"}, "length"))
    with pytest.raises(ToolCallProblem, match="whole answer") as raised:
        check_forced_call(hopeless, "http://e/v1", "m", {})
    assert "enable_thinking" not in str(raised.value)


def test_the_request_carries_the_run_arguments_and_the_check_own_budget() -> None:
    seen: list[dict[str, Any]] = []
    check_forced_call(server(lambda body: (seen.append(body), (tool_message(), "tool_calls"))[1]), "http://e/v1", "m",
                      {}, {"temperature": 0.7, "max_tokens": 12, "chat_template_kwargs": {"x": 1}})
    assert seen[0]["chat_template_kwargs"] == {"x": 1}
    assert seen[0]["temperature"] == 0 and seen[0]["max_tokens"] == 256  # greedy: both answers must be one call
    assert seen[0]["tools"][0]["function"]["strict"] is True and seen[0]["tool_choice"]["function"]["name"]
