"""The tool-calling conformance check: a served model, with its engine's parser, must answer a forced tool call with
a well-formed call whose arguments follow the schema, streamed equal to non-streamed. `up`, `status` and the eval
preflight all ask this one check.

What it tells apart (each seen on real vLLM 0.31): no call at all, a call cut by max_tokens (raw `<tool_call>` text in
content), a reasoning parser that took the whole answer (forced calls then yield none unless the request turns thinking
off with chat_template_kwargs), arguments that are not JSON or do not follow the schema, and a stream that disagrees.
The tool's schema is strict with short valid arguments, so an engine that constrains forced calls (vLLM's guided
decoding, llama-cpp-python's grammar) passes whatever its weights prefer, and one that does not shows it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

ENUM = ["#W1", "#W2"]
TOOL = {"type": "function", "function": {
    "name": "get_order", "description": "Look an order up by its id.", "strict": True,
    "parameters": {"type": "object", "additionalProperties": False, "required": ["order_id", "rush"],
                   "properties": {"order_id": {"type": "string", "enum": ENUM}, "rush": {"type": "boolean"}}}}}
FORCED = {"type": "function", "function": {"name": "get_order"}}
MESSAGES = [{"role": "user", "content": "Look up order #W1, not rushed."}]
# a real model writes this call in ~25 tokens; guided decoding lets random weights pad it with JSON whitespace (vLLM
# 0.31 on the tiny model: 64 cut it short)
MAX_TOKENS = 256
NO_THINKING = {"chat_template_kwargs": {"enable_thinking": False}}


class ToolCallProblem(ValueError):
    """What came back instead of a conforming forced call, in one line."""


def request_body(model: str, stream: bool, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The forced call, with the caller's own arguments (a run's chat_template_kwargs, say) but greedy, so that the
    streamed and non-streamed answers must be the same call."""
    return {**(extra or {}), "model": model, "messages": MESSAGES, "stream": stream, "max_tokens": MAX_TOKENS,
            "temperature": 0, "seed": 0, "tools": [TOOL], "tool_choice": FORCED}


def schema_problem(arguments: Any) -> str | None:
    """Why `arguments` does not follow TOOL's schema; None when they do."""
    if not isinstance(arguments, dict):
        return "arguments are not a JSON object"
    schema = TOOL["function"]["parameters"]  # type: ignore[index]
    missing = [name for name in schema["required"] if name not in arguments]
    extra = sorted(set(arguments) - set(schema["properties"]))
    if missing or extra:
        return f"arguments do not follow the schema (missing {missing or '-'}, unknown {extra or '-'}): {arguments}"
    if arguments["order_id"] not in ENUM or not isinstance(arguments["rush"], bool):
        return f"arguments do not follow the schema (order_id one of {ENUM}, rush a boolean): {arguments}"
    return None


def forced_call(message: Mapping[str, Any], finish_reason: Any) -> tuple[str, dict[str, Any]]:
    """(name, arguments) of a message's one call; ToolCallProblem saying what came back instead."""
    calls = message.get("tool_calls") or []
    content = str(message.get("content") or "")
    reasoning = str(message.get("reasoning") or message.get("reasoning_content") or "")
    if not calls:
        if finish_reason == "length" and "<tool_call>" in content:
            raise ToolCallProblem(f"the call was cut by max_tokens ({MAX_TOKENS}): raw text in content "
                                  f"({content[:60]!r})")
        if reasoning and not content:
            raise ToolCallProblem(f"the reasoning parser took the whole answer (reasoning: {reasoning[:60]!r}), "
                                  "no tool call")
        raise ToolCallProblem(f"no tool call (content: {content[:80]!r})")
    function = calls[0].get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "")
    except json.JSONDecodeError:
        raise ToolCallProblem(f"tool call arguments are not JSON: {str(function.get('arguments'))[:80]!r}") from None
    problem = schema_problem(arguments)
    if problem:
        raise ToolCallProblem(problem)
    return str(function.get("name")), arguments


def streamed_message(response: httpx.Response) -> tuple[dict[str, Any], Any]:
    """The message a stream of chat.completion.chunk events adds up to, and its finish_reason."""
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for line in response.iter_lines():
        if not line.startswith("data:") or line.strip() == "data: [DONE]":
            continue
        for choice in json.loads(line[5:]).get("choices") or []:
            delta = choice.get("delta") or {}
            finish = choice.get("finish_reason") or finish
            content.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning") or delta.get("reasoning_content") or "")
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(int(call.get("index", 0)), {"function": {"name": "", "arguments": ""}})
                function = call.get("function") or {}
                name = function.get("name") or ""
                if name != slot["function"]["name"]:  # llama-cpp-python repeats the whole name in every delta
                    slot["function"]["name"] += name
                slot["function"]["arguments"] += function.get("arguments") or ""
    message = {"content": "".join(content), "reasoning": "".join(reasoning),
               "tool_calls": [calls[i] for i in sorted(calls)]}
    return message, finish


def ask(client: httpx.Client, url: str, model: str, headers: Mapping[str, str],
        extra: Mapping[str, Any] | None = None) -> None:
    """One forced call, non-streamed then streamed; ToolCallProblem (or httpx.HTTPError) when it does not conform."""
    answer = client.post(f"{url}/chat/completions", json=request_body(model, False, extra), headers=dict(headers))
    if answer.status_code != 200:
        raise ToolCallProblem(f"answered {answer.status_code}: {' '.join(answer.text.split())[:200]}")
    choice = (answer.json().get("choices") or [{}])[0]
    plain = forced_call(choice.get("message") or {}, choice.get("finish_reason"))
    with client.stream("POST", f"{url}/chat/completions", json=request_body(model, True, extra),
                       headers=dict(headers)) as stream:
        if stream.status_code != 200:
            stream.read()
            raise ToolCallProblem(f"answered {stream.status_code} when streaming: {stream.text[:200]}")
        streamed = forced_call(*streamed_message(stream))
    if plain[0] != "get_order" or streamed[0] != "get_order":
        raise ToolCallProblem(f"called {plain[0]!r} (streamed: {streamed[0]!r}), not the forced 'get_order'")
    if plain[1] != streamed[1]:
        raise ToolCallProblem(f"streamed and non-streamed calls disagree: {plain[1]} against {streamed[1]}")


def check_forced_call(client: httpx.Client, url: str, model: str, headers: Mapping[str, str],
                      extra: Mapping[str, Any] | None = None) -> None:
    """`ask`, and when a reasoning parser took the answer, whether turning thinking off helps (said in the error)."""
    try:
        ask(client, url, model, headers, extra)
    except ToolCallProblem as exc:
        if "reasoning parser" not in str(exc):
            raise
        try:
            ask(client, url, model, headers, {**(extra or {}), **NO_THINKING})
        except ToolCallProblem:
            raise exc from None
        raise ToolCallProblem(f"{exc}; with chat_template_kwargs {{\"enable_thinking\": false}} it calls the tool: "
                              "send that with forced tool calls") from None
