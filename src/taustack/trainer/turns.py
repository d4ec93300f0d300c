"""A model's turn, as text in its chat template's tool-call format, -> content and tool calls (no repair).

The format is the hermes one the shipped templates (and Qwen's) render: `<tool_call>{"name": ..., "arguments":
{...}}</tool_call>` blocks. Training wants the format learnt, so nothing is repaired: a block that does not parse
is kept as a malformed call, which the episode then sees fail (see rollout.py), never a silently dropped step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# a malformed tool-call block reaches the environment as a call to this name, which no domain has: the episode
# gets tau2's own "Error: Tool ... not found." result and counts it among its errors
MALFORMED_CALL_NAME = "malformed_tool_call"

_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """What one generated turn says: its text outside tool-call blocks, its calls, and the blocks that failed."""

    content: str | None
    calls: list[Call] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)


def _call(block: str) -> Call | None:
    try:
        value = json.loads(block)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        return None
    arguments = value.get("arguments", {})
    if isinstance(arguments, str):  # some models write the arguments as a JSON string, as the OpenAI API does
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return Call(value["name"], arguments)


def parse_turn(text: str) -> Turn:
    """Split a generated turn into content, calls and malformed blocks."""
    calls: list[Call] = []
    malformed: list[str] = []
    for match in _BLOCK.finditer(text):
        block = match.group(1).strip()
        call = _call(block)
        if call is None:
            malformed.append(block)
        else:
            calls.append(call)
    content = _BLOCK.sub("", text).strip()
    return Turn(content or None, calls, malformed)
