"""The preflight's reading of a streamed tool call (OpenAI sends the name once; llama-cpp-python in every delta)."""

from __future__ import annotations

import json

import httpx
import pytest

from taustack.eval.preflight import streamed_message, tool_call_of


def sse(*deltas: dict[str, object]) -> httpx.Response:
    lines = [f"data: {json.dumps({'choices': [{'index': 0, 'delta': d}]})}" for d in deltas] + ["data: [DONE]"]
    return httpx.Response(200, content="\n\n".join(lines).encode())


def call(name: str | None, arguments: str) -> dict[str, object]:
    function = {"arguments": arguments} if name is None else {"name": name, "arguments": arguments}
    return {"tool_calls": [{"index": 0, "function": function}]}


@pytest.mark.parametrize("names", [("get_order", None, None), ("get_order", "get_order", "get_order"),
                                   ("get_", "order", None)])
def test_streamed_tool_calls_add_up(names: tuple[str | None, ...]) -> None:
    pieces = ['{"order_id": ', '"#W1", "rush"', ": false}"]
    message = streamed_message(sse(*(call(n, a) for n, a in zip(names, pieces, strict=True))))
    assert tool_call_of(message) == ("get_order", {"order_id": "#W1", "rush": False})


def test_what_is_wrong_with_an_answer_is_said() -> None:
    with pytest.raises(ValueError, match="no tool call"):
        tool_call_of({"content": "I cannot call tools"})
    with pytest.raises(ValueError, match="not JSON"):
        tool_call_of({"tool_calls": [{"function": {"name": "get_order", "arguments": '{"order_id": '}}]})
