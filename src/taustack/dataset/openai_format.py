"""OpenAI chat fine-tuning records: build them from examples, validate them, and feed them to chat templates."""

from __future__ import annotations

import copy
import json
from typing import Any

ALLOWED_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})
ROLES = frozenset({"system", "user", "assistant", "tool"})


def for_template(record: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(messages, tools) of one train.jsonl record for `tokenizer.apply_chat_template(messages, tools=tools)`.

    The messages are the record's, except that each tool call's `function.arguments` is parsed back into an
    object: chat templates (Qwen's `tojson`) expect an object and would double-encode a JSON string.
    """
    messages: list[dict[str, Any]] = copy.deepcopy(record["messages"])
    for message in messages:
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                function["arguments"] = json.loads(arguments) if arguments.strip() else {}
    tools = record.get("tools")
    return messages, (copy.deepcopy(tools) if tools else None)


def has_parallel_calls(messages: list[dict[str, Any]]) -> bool:
    """True when some assistant turn made more than one tool call."""
    return any(len(m.get("tool_calls") or []) > 1 for m in messages if m.get("role") == "assistant")


def to_record(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """One fine-tuning line: trailing non-assistant turns dropped, `parallel_tool_calls` from what happened."""
    kept = list(messages)
    while kept and kept[-1].get("role") != "assistant":
        kept.pop()
    return {"messages": kept, "tools": tools, "parallel_tool_calls": has_parallel_calls(kept)}


def _call_problems(call: Any, where: str) -> list[str]:
    if not isinstance(call, dict) or call.get("type") != "function" or not isinstance(call.get("function"), dict):
        return [f"{where}: a tool call must be {{'id', 'type': 'function', 'function': {{...}}}}"]
    problems: list[str] = []
    if not isinstance(call.get("id"), str) or not call["id"]:
        problems.append(f"{where}: a tool call has no id")
    function = call["function"]
    if not isinstance(function.get("name"), str) or not function["name"]:
        problems.append(f"{where}: a tool call has no function name")
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        problems.append(f"{where}: arguments must be a JSON string, not {type(arguments).__name__}")
    else:
        try:
            parsed = json.loads(arguments)
        except ValueError:
            problems.append(f"{where}: arguments are not valid JSON")
        else:
            if not isinstance(parsed, dict):
                problems.append(f"{where}: arguments must encode a JSON object")
    return problems


def _tools_problems(tools: Any) -> list[str]:
    if not isinstance(tools, list):
        return ["tools must be a list"]
    problems: list[str] = []
    names: set[str] = set()
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            problems.append(f"tools[{index}] must be {{'type': 'function', 'function': {{...}}}}")
            continue
        name = function.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"tools[{index}] has no name")
        elif name in names:
            problems.append(f"tools[{index}]: duplicate tool name {name!r}")
        else:
            names.add(name)
        if not isinstance(function.get("parameters", {}), dict):
            problems.append(f"tools[{index}] ({name}): parameters must be an object")
    return problems


def validate_record(record: Any) -> list[str]:
    """Every reason `record` is not a valid OpenAI chat fine-tuning line (empty: valid).

    Checked: known keys only; roles; no empty assistant message; arguments are JSON strings of objects; every
    tool message answers a call of the same example made by the assistant turn right before it; every call of
    a non-final assistant turn is answered; the last message is the assistant's; `parallel_tool_calls` is
    true exactly when a turn made several calls.
    """
    if not isinstance(record, dict):
        return ["a record must be a JSON object"]
    problems = [f"unknown key {key!r}" for key in sorted(set(record) - ALLOWED_KEYS)]
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "messages must be a non-empty list"]
    if "tools" in record:
        problems.extend(_tools_problems(record["tools"]))
    pending: set[str] = set()
    seen_ids: set[str] = set()
    last_assistant = max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"),
                         default=-1)
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            problems.append(f"{where}: role must be one of {sorted(ROLES)}")
            continue
        role = message["role"]
        if role != "tool" and pending:
            problems.append(f"{where}: tool call(s) {sorted(pending)} are not answered")
            pending = set()
        content = message.get("content")
        if role == "assistant":
            calls = message.get("tool_calls") or []
            if not isinstance(calls, list):
                problems.append(f"{where}: tool_calls must be a list")
                continue
            if not calls and not (isinstance(content, str) and content.strip()):
                problems.append(f"{where}: empty assistant message")
            if content is not None and not isinstance(content, str):
                problems.append(f"{where}: content must be a string or null")
            for call in calls:
                problems.extend(_call_problems(call, where))
                call_id = call.get("id") if isinstance(call, dict) else None
                if isinstance(call_id, str):
                    if call_id in seen_ids:
                        problems.append(f"{where}: duplicate tool call id {call_id!r}")
                    seen_ids.add(call_id)
                    if index != last_assistant or index + 1 < len(messages):
                        pending.add(call_id)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                problems.append(f"{where}: tool message answers no open call of this example ({call_id!r})")
            if isinstance(call_id, str):
                pending.discard(call_id)
            if not isinstance(content, str):
                problems.append(f"{where}: tool content must be a string")
        elif not isinstance(content, str):
            problems.append(f"{where}: {role} content must be a string")
    if pending:
        problems.append(f"tool call(s) {sorted(pending)} are not answered")
    if not isinstance(messages[-1], dict) or messages[-1].get("role") != "assistant":
        problems.append("the last message must be the assistant's")
    parallel = record.get("parallel_tool_calls")
    if "parallel_tool_calls" in record:
        if not isinstance(parallel, bool):
            problems.append("parallel_tool_calls must be a boolean")
        elif parallel != has_parallel_calls([m for m in messages if isinstance(m, dict)]):
            problems.append("parallel_tool_calls must be true exactly when a turn made several calls")
    return problems
