"""One tau2 simulation's messages -> the agent's chat (OpenAI format), repairing or removing what would be invalid.

What the agent saw is what it is trained on: the user's own tool calls (telecom's device actions, requestor
"user") and their results never reached the agent in tau2 (only the user's next text did), so they are dropped
and counted. Tool-call ids that tau2 left empty or repeated are named and paired in order (call_ids.py). Every
repair is counted by kind; see REPAIRS.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from taustack.dataset.call_ids import CallIds, tau2_id

Message = dict[str, Any]

REPAIRS = {
    "empty_assistant_removed": "an assistant message with neither text nor tool calls",
    "invalid_tool_call_removed": "a tool call without a name, or with arguments that are not a JSON object",
    "arguments_parsed_from_string": "arguments stored as a JSON string instead of an object",
    "empty_call_id_named": "a tool call without an id (tau2's default), named; its result paired in order",
    "duplicate_call_id_renamed": "a tool call id already used earlier in the example, renamed on both sides",
    "unanswered_call_removed": "a tool call (not in the last turn) that no tool message answers",
    "orphan_tool_result_removed": "a tool message answering no open call of the assistant",
    "tool_content_not_string": "a tool message whose content was null or not a string",
    "empty_user_removed": "a user message without text",
    "consecutive_user_merged": "two user messages in a row joined into one",
    "other_message_removed": "a message with a role other than assistant, user or tool",
    "trailing_turns_dropped": "messages after the last assistant turn",
}
USER_SIDE = ("user_tool_calls_dropped", "user_tool_results_dropped")


@dataclass
class Conversion:
    """The chat messages (no system message) and what it took to get them."""

    messages: list[Message]
    repairs: Counter[str] = field(default_factory=Counter)
    user_side: Counter[str] = field(default_factory=Counter)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, arguments) of kept calls


def _flatten(raw: list[Any]) -> list[dict[str, Any]]:
    """tau2 messages, with a MultiToolMessage (`tool_messages`) expanded into its tool messages."""
    flat: list[dict[str, Any]] = []
    for message in raw:
        if not isinstance(message, dict):
            flat.append({"role": None})
        elif isinstance(message.get("tool_messages"), list):
            flat.extend(m for m in message["tool_messages"] if isinstance(m, dict))
        else:
            flat.append(message)
    return flat


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value if value.strip() else None
    return None


def _arguments(value: Any, repairs: Counter[str]) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            parsed = json.loads(value) if value.strip() else {}
        except ValueError:
            return None
        if isinstance(parsed, dict):
            repairs["arguments_parsed_from_string"] += 1
            return parsed
    return None


class _Builder:
    """Walks the tau2 messages once; keeps the calls of the latest assistant turn open until answered."""

    def __init__(self, ids: CallIds) -> None:
        self.out: list[Message] = []
        self.repairs: Counter[str] = Counter()
        self.user_side: Counter[str] = Counter()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.ids = ids
        self.user_call_ids: set[str] = set()

    def assistant(self, message: dict[str, Any]) -> None:
        calls: list[Message] = []
        for call in message.get("tool_calls") or []:
            name = call.get("name") if isinstance(call, dict) else None
            arguments = _arguments(call.get("arguments"), self.repairs) if isinstance(call, dict) else None
            if not isinstance(name, str) or not name or arguments is None:
                self.repairs["invalid_tool_call_removed"] += 1
                self.ids.skip(tau2_id(call.get("id")) if isinstance(call, dict) else "")
                continue
            call_id, repair = self.ids.name(tau2_id(call.get("id")))
            if repair:
                self.repairs[repair] += 1
            self.calls.append((name, arguments))
            calls.append({"id": call_id, "type": "function",
                          "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}})
        content = _text(message.get("content"))
        if not calls and content is None:
            self.repairs["empty_assistant_removed"] += 1
            return
        out: Message = {"role": "assistant", "content": content}
        if calls:
            out["tool_calls"] = calls
        self.out.append(out)

    def tool(self, message: dict[str, Any]) -> None:
        original = tau2_id(message.get("id"))
        call_id = None if message.get("requestor") == "user" else self.ids.answer(original)
        if call_id is None and (message.get("requestor") == "user" or original in self.user_call_ids):
            self.user_side["user_tool_results_dropped"] += 1
            return
        if not call_id:  # no open call with this id, or the call it answers was left out
            self.repairs["orphan_tool_result_removed"] += 1
            return
        content = message.get("content")
        if not isinstance(content, str):
            self.repairs["tool_content_not_string"] += 1
            content = "" if content is None else json.dumps(content, ensure_ascii=False)
        self.out.append({"role": "tool", "tool_call_id": call_id, "content": content})

    def user(self, message: dict[str, Any]) -> None:
        for call in message.get("tool_calls") or []:
            self.user_side["user_tool_calls_dropped"] += 1
            if isinstance(call, dict):
                self.user_call_ids.add(tau2_id(call.get("id")))
        content = _text(message.get("content"))
        if content is None:
            if not message.get("tool_calls"):
                self.repairs["empty_user_removed"] += 1
            return
        if self.out and self.out[-1]["role"] == "user":
            self.out[-1]["content"] += "\n\n" + content
            self.repairs["consecutive_user_merged"] += 1
        else:
            self.out.append({"role": "user", "content": content})


def convert(raw_messages: list[Any]) -> Conversion:
    """tau2 messages -> chat messages ending with the agent's last turn; repairs counted by kind."""
    flat = _flatten(raw_messages)
    builder = _Builder(CallIds(_agent_call_ids(flat)))
    for message in flat:
        role = message.get("role")
        if role == "tool":
            builder.tool(message)
            continue
        builder.ids.close_turn()
        if role == "assistant":
            builder.assistant(message)
        elif role == "user":
            builder.user(message)
        else:
            builder.repairs["other_message_removed"] += 1
    messages = _drop_unanswered(builder.out, builder.repairs)
    return Conversion(messages, builder.repairs, builder.user_side, builder.calls)


def _agent_call_ids(messages: list[dict[str, Any]]) -> set[str]:
    """The non-empty ids of the agent's calls, reserved so that a name given to another call never takes one."""
    return {tau2_id(call.get("id")) for message in messages if message.get("role") == "assistant"
            for call in message.get("tool_calls") or [] if isinstance(call, dict) and call.get("id")}


def _drop_unanswered(messages: list[Message], repairs: Counter[str]) -> list[Message]:
    """Trailing non-assistant turns dropped; unanswered calls removed except in the final assistant turn."""
    while True:
        end = len(messages)
        while end and messages[end - 1]["role"] != "assistant":
            end -= 1
        repairs["trailing_turns_dropped"] += len(messages) - end
        messages = messages[:end]
        answered = {m["tool_call_id"] for m in messages if m["role"] == "tool"}
        kept: list[Message] = []
        changed = False
        for index, message in enumerate(messages):
            calls = message.get("tool_calls")
            if calls and index < len(messages) - 1:
                remaining = [c for c in calls if c["id"] in answered]
                if len(remaining) < len(calls):
                    repairs["unanswered_call_removed"] += len(calls) - len(remaining)
                    changed = True
                    message = {**message, "tool_calls": remaining} if remaining else \
                        {k: v for k, v in message.items() if k != "tool_calls"}
                    if not remaining and message.get("content") is None:
                        repairs["empty_assistant_removed"] += 1
                        continue
            kept.append(message)
        messages = _merge_users(kept, repairs) if changed else kept
        if not changed:
            return messages


def _merge_users(messages: list[Message], repairs: Counter[str]) -> list[Message]:
    merged: list[Message] = []
    for message in messages:
        if merged and message["role"] == "user" and merged[-1]["role"] == "user":
            merged[-1] = {**merged[-1], "content": merged[-1]["content"] + "\n\n" + message["content"]}
            repairs["consecutive_user_merged"] += 1
        else:
            merged.append(message)
    return merged
