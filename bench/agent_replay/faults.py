"""Faults: the malformed outputs a served model gives, as transformations of a recorded assistant message.

A corpus file (faults.json, faults_heldout.json beside this module) lists items: an id, a kind, a source note and a
transform, `{"op": ..., ...}`, that this module applies to the recorded message in its OpenAI wire form
(`{"role", "content", "tool_calls": [{"id", "type", "function": {"name", "arguments": str}}]}`). Templates use
string.Template placeholders (`$json`, `$name`, ...: RENDERINGS) so that JSON braces in a template need no escaping.

Kinds and where they apply: arguments / leaked / name / types only to messages with tool calls (types only where a
call has a value of the type), mixed to tool-call messages (text added beside the call), empty and transient to any
agent turn. Whether a turn is faulted is drawn per (episode, turn, attempt) from a seeded random.Random, so every agent
meets the same faults on its first attempt at a turn, and a retried or re-prompted turn is faulted again at the same
rate.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "faults.json"
HELDOUT = HERE / "faults_heldout.json"
KINDS = ("arguments", "leaked", "name", "types", "mixed", "empty", "transient")
CALL_KINDS = frozenset({"arguments", "leaked", "name", "types", "mixed"})


@dataclass(frozen=True)
class FaultItem:
    id: str
    kind: str
    source: str
    transform: dict[str, Any]


@dataclass(frozen=True)
class HttpFailure:
    """What the endpoint does instead of answering: a status and body, or `reset` / `truncate` the connection."""

    action: str  # "respond" | "reset" | "truncate"
    status: int = 503
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Faulted:
    """The answer to send for a faulted turn: a wire message, or an HTTP failure."""

    item: FaultItem
    message: dict[str, Any] | None = None
    failure: HttpFailure | None = None


class CorpusError(ValueError):
    """A fault file that does not describe applicable transformations."""


# ---------------------------------------------------------------------------------------------------------------
# renderings of a call's arguments and name (the placeholders templates use)


def _python_literal(value: Any) -> str:
    """What a model that writes Python gives: repr of the dict (single quotes, True/False/None)."""
    return repr(value)


def _trailing_comma(arguments: dict[str, Any]) -> str:
    text = json.dumps(arguments)
    return text[:-1] + ", }" if text.endswith("}") and len(arguments) else text


def _commented(arguments: dict[str, Any]) -> str:
    """JSON with // line comments (and one /* block */), as models annotate their arguments."""
    if not arguments:
        return "{ /* no arguments needed */ }"
    lines = ["{"]
    items = list(arguments.items())
    for number, (key, value) in enumerate(items):
        comma = "," if number < len(items) - 1 else ""
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}  // from the conversation")
    lines.append("}")
    return "/* arguments */\n" + "\n".join(lines)


def _unicode_escaped_string(text: str) -> str:
    """A JSON string literal of TEXT with quotes, braces and colons written as \\uXXXX escapes (still valid JSON)."""
    escaped = "".join(f"\\u{ord(char):04x}" if char in '"{}:' else char for char in text.replace("\\", "\\\\"))
    return f'"{escaped}"'


def _words(name: str) -> list[str]:
    return [word for word in re.split(r"[_\-\s.]+", name) if word]


NAME_STYLES: dict[str, Callable[[str], str]] = {
    "kebab_title": lambda name: "-".join(word.capitalize() for word in _words(name)),
    "camel": lambda name: _words(name)[0] + "".join(word.capitalize() for word in _words(name)[1:]),
    "pascal": lambda name: "".join(word.capitalize() for word in _words(name)),
    "upper": lambda name: name.upper(),
    "spaced": lambda name: " ".join(_words(name)),
}


def renderings(name: str, arguments: dict[str, Any]) -> dict[str, str]:
    """Every placeholder a template may use, for one call."""
    compact = json.dumps(arguments)
    values = {
        "name": name,
        "json": compact,
        "json_pretty": json.dumps(arguments, indent=2),
        "python": _python_literal(arguments),
        "single_quotes": compact.replace('"', "'"),
        "json_string": json.dumps(compact),
        "json_string_escaped": _unicode_escaped_string(compact),
        "json_trailing_comma": _trailing_comma(arguments),
        "json_commented": _commented(arguments),
        "json_wrapped": json.dumps({"arguments": arguments}),
        "call_json": json.dumps({"name": name, "arguments": arguments}),
        "call_json_pretty": json.dumps({"name": name, "arguments": arguments}, indent=2),
        "call_json_parameters": json.dumps({"name": name, "parameters": arguments}),
    }
    values.update({style: render(name) for style, render in NAME_STYLES.items()})
    return values


def _fill(template: str, values: dict[str, str]) -> str:
    try:
        return Template(template).substitute(values)
    except (KeyError, ValueError) as exc:
        raise CorpusError(f"template {template!r}: {exc}") from None


# ---------------------------------------------------------------------------------------------------------------
# the transforms


def calls_of(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, parsed arguments) of each tool call of a wire message."""
    return [(call["function"]["name"], json.loads(call["function"]["arguments"]))
            for call in message.get("tool_calls") or []]


def _is_type(value: Any, kind: str) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    raise CorpusError(f"types: unknown value type {kind!r}")


def _stringify(value: Any, kind: str, scope: str, depth: int = 0) -> tuple[Any, int]:
    """VALUE with every value of KIND (at the top level, or nested only) turned into a string; and how many."""
    if depth > 0 and _is_type(value, kind) and (scope == "top") == (depth == 1):
        text = ("True" if value else "False") if kind == "boolean" else str(value)
        return text, 1
    if isinstance(value, dict):
        changed, total = {}, 0
        for key, item in value.items():
            changed[key], count = _stringify(item, kind, scope, depth + 1)
            total += count
        return changed, total
    if isinstance(value, list):
        out, total = [], 0
        for item in value:
            new, count = _stringify(item, kind, scope, depth + 1)
            out.append(new)
            total += count
        return out, total
    return value, 0


def _error_body(transform: dict[str, Any]) -> bytes:
    body = transform.get("body", "")
    return (json.dumps(body) if isinstance(body, (dict, list)) else str(body)).encode()


def applies(item: FaultItem, message: dict[str, Any]) -> bool:
    """Whether ITEM means something for this recorded wire message."""
    has_calls = bool(message.get("tool_calls"))
    if item.kind in CALL_KINDS and not has_calls:
        return False
    if item.transform.get("requires") == "no_arguments" and any(arguments for _, arguments in calls_of(message)):
        return False
    if item.kind == "types":
        transform = item.transform
        return any(_stringify(arguments, transform["value_type"], transform.get("scope", "top"))[1]
                   for _, arguments in calls_of(message))
    return True


def apply(item: FaultItem, message: dict[str, Any]) -> Faulted:
    """ITEM's transformation of the recorded wire MESSAGE (never changed in place)."""
    transform, op = item.transform, item.transform.get("op")
    faulted = copy.deepcopy(message)
    calls = faulted.get("tool_calls") or []
    if op == "arguments":
        for call in calls if transform.get("all_calls", True) else calls[:1]:
            name, arguments = call["function"]["name"], json.loads(call["function"]["arguments"])
            call["function"]["arguments"] = _fill(transform["template"], renderings(name, arguments))
        return Faulted(item, message=faulted)
    if op == "leak":
        rendered = [_fill(transform["call_template"], renderings(name, arguments)) for name, arguments in
                    calls_of(message)]
        listed = json.dumps([{"name": name, "arguments": arguments} for name, arguments in calls_of(message)])
        content = _fill(transform.get("template", "$calls"),
                        {"calls": transform.get("separator", "\n").join(rendered), "calls_json": listed})
        faulted["content"] = content
        faulted["tool_calls"] = [] if transform.get("empty_list", True) else None
        return Faulted(item, message=faulted)
    if op == "name":
        for call in calls:
            call["function"]["name"] = _fill(transform["template"], renderings(call["function"]["name"], {}))
        return Faulted(item, message=faulted)
    if op == "types":
        for call in calls:
            arguments = json.loads(call["function"]["arguments"])
            changed, _ = _stringify(arguments, transform["value_type"], transform.get("scope", "top"))
            call["function"]["arguments"] = json.dumps(changed)
        return Faulted(item, message=faulted)
    if op == "mixed":
        name = calls[0]["function"]["name"] if calls else ""
        faulted["content"] = _fill(transform["text"], {"name": name})
        return Faulted(item, message=faulted)
    if op == "empty":
        faulted["content"] = transform.get("content", "")
        faulted["tool_calls"] = transform.get("tool_calls")
        return Faulted(item, message=faulted)
    if op == "http_error":
        headers = tuple((str(k), str(v)) for k, v in (transform.get("headers") or {}).items())
        return Faulted(item, failure=HttpFailure("respond", int(transform["status"]), _error_body(transform),
                                                 transform.get("content_type", "application/json"), headers))
    if op in ("reset", "truncate"):
        return Faulted(item, failure=HttpFailure(op, int(transform.get("status", 200)), _error_body(transform)))
    raise CorpusError(f"{item.id}: unknown op {op!r}")


# ---------------------------------------------------------------------------------------------------------------
# corpus files and the seeded draw


def load_corpus(path: Path) -> list[FaultItem]:
    data = json.loads(path.read_text())
    items = []
    for entry in data["items"]:
        missing = {"id", "kind", "source", "transform"} - set(entry)
        if missing:
            raise CorpusError(f"{path.name}: item {entry.get('id')!r} lacks {sorted(missing)}")
        if entry["kind"] not in KINDS:
            raise CorpusError(f"{path.name}: item {entry['id']!r} has unknown kind {entry['kind']!r}")
        items.append(FaultItem(entry["id"], entry["kind"], entry["source"], dict(entry["transform"])))
    if len({item.id for item in items}) != len(items):
        raise CorpusError(f"{path.name}: duplicate ids")
    return items


@dataclass
class FaultPlan:
    """Faults at RATE per agent turn from ITEMS; a kind is drawn first (among those that apply), then an item."""

    rate: float
    items: Sequence[FaultItem] = field(default_factory=list)
    seed: int = 0
    kinds: Sequence[str] | None = None  # only these kinds (a per-kind run); None: all

    def draw(self, episode: str, turn: int, attempt: int, message: dict[str, Any]) -> FaultItem | None:
        if self.rate <= 0 or not self.items:
            return None
        generator = random.Random(f"{self.seed}|{episode}|{turn}|{attempt}")
        if generator.random() >= self.rate:
            return None
        usable = [item for item in self.items if (self.kinds is None or item.kind in self.kinds)
                  and applies(item, message)]
        kinds = sorted({item.kind for item in usable}, key=KINDS.index)
        if not kinds:
            return None
        kind = generator.choice(kinds)
        return generator.choice([item for item in usable if item.kind == kind])
