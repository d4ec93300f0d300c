"""What repair works on and produces: a tool call as the engine sent it, one that may be dispatched, the outcome of
repairing one message, and the names of the repair kinds counted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

KIND_JSON_ARGUMENTS = "json_arguments"
KIND_LEAKED_HERMES = "leaked_hermes"
KIND_LEAKED_MISTRAL = "leaked_mistral"
KIND_LEAKED_JSON = "leaked_json"
KIND_TOOL_NAME = "tool_name"
KIND_COERCION = "coercion"

LEAKED_ID_PREFIX = "call_leaked_"
SNIPPET_CHARS = 120


@dataclass(frozen=True)
class RawToolCall:
    """A tool call as the engine returned it: arguments untouched (a string, maybe not JSON)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolCallOut:
    """A tool call that may be dispatched: a known tool, arguments valid against its schema."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class RepairOutcome:
    """What repair made of one assistant message.

    `problem` is None when the message is valid as is or was repaired; else it is the exact error, one line, to
    quote in a re-prompt, and `calls` holds only the calls that passed (the message must not be dispatched).
    """

    content: str | None
    calls: list[ToolCallOut]
    repairs: Counter[str] = field(default_factory=Counter)
    problem: str | None = None



def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Text cut to limit characters, on one line (line breaks written as \\n)."""
    cut = text if len(text) <= limit else text[:limit] + "..."
    return cut.replace("\r", "\\r").replace("\n", "\\n")
