"""Tool calls written into the content when the engine's parser failed: hermes `<tool_call>`, Mistral
`[TOOL_CALLS]`, a bare JSON object naming a tool; only names that resolve to a real tool count."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from taustack.agents.arguments import DECODER, MAX_OBJECT_STARTS, AmbiguousJSON, decode_arguments
from taustack.agents.calls import (
    KIND_JSON_ARGUMENTS,
    KIND_LEAKED_HERMES,
    KIND_LEAKED_JSON,
    KIND_LEAKED_MISTRAL,
    LEAKED_ID_PREFIX,
    RawToolCall,
)
from taustack.agents.config import RepairConfig
from taustack.agents.toolnames import ToolCatalog

_HERMES = re.compile(r"<tool_call>(.*?)(?:</tool_call>|(?=<tool_call>)|\Z)", re.DOTALL)
_MISTRAL_MARKER = "[TOOL_CALLS]"
_MISTRAL_NAMED = re.compile(r"\s*([A-Za-z_][\w.\-]*)\s*(?:\[CALL_ID\]\s*[\w\-]*\s*)?(?:\[ARGS\]\s*)?")
_EMPTY_FENCE = re.compile(r"```[\w+\-]*\s*```")


@dataclass
class _Leak:
    content: str | None
    calls: list[RawToolCall]
    repairs: Counter[str]


@dataclass
class _Found:
    """Calls found in text and the spans of text they came from."""

    calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments text)
    spans: list[tuple[int, int]] = field(default_factory=list)
    json_repairs: int = 0

    def remaining(self, text: str) -> str:
        kept, last = [], 0
        for start, end in sorted(self.spans):
            kept.append(text[last:start])
            last = end
        kept.append(text[last:])
        return "".join(kept)


def extract_leaked(content: str, catalog: ToolCatalog, config: RepairConfig) -> _Leak:
    """Calls written as text (hermes, Mistral, bare JSON) whose names resolve to a tool; the rest stays text."""
    text = content
    calls: list[tuple[str, str]] = []
    repairs: Counter[str] = Counter()
    for kind, finder in ((KIND_LEAKED_HERMES, _find_hermes), (KIND_LEAKED_MISTRAL, _find_mistral),
                         (KIND_LEAKED_JSON, _find_bare_json)):
        found = finder(text, catalog, config)
        if found.calls:
            calls.extend(found.calls)
            repairs[kind] += len(found.calls)
            if found.json_repairs:
                repairs[KIND_JSON_ARGUMENTS] += found.json_repairs
            text = found.remaining(text)
    if not calls:
        return _Leak(content=content, calls=[], repairs=Counter())
    left = _EMPTY_FENCE.sub("", text).strip()
    raw = [RawToolCall(id=f"{LEAKED_ID_PREFIX}{number}", name=name, arguments=arguments)
           for number, (name, arguments) in enumerate(calls, start=1)]
    return _Leak(content=left or None, calls=raw, repairs=repairs)


def _call_parts(value: Any, catalog: ToolCatalog, config: RepairConfig, *,
                need_arguments: bool) -> tuple[str, str] | None:
    """(name, arguments text) of an object shaped like a call to a known tool, else None."""
    if not isinstance(value, dict):
        return None
    name = value.get("name")
    if not isinstance(name, str) or not catalog.resolves(name, mapping=config.tool_names):
        return None
    key = "arguments" if "arguments" in value else "parameters" if "parameters" in value else None
    if key is None:
        return None if need_arguments else (name, "{}")
    arguments = value[key]
    return name, arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def _find_hermes(text: str, catalog: ToolCatalog, config: RepairConfig) -> _Found:
    found = _Found()
    for match in _HERMES.finditer(text):
        try:
            value, repaired = decode_arguments(match.group(1).strip(), repair=config.json_arguments)
        except (json.JSONDecodeError, AmbiguousJSON):
            continue
        parts = _call_parts(value, catalog, config, need_arguments=False)
        if parts is not None:
            found.calls.append(parts)
            found.spans.append(match.span())
            found.json_repairs += int(repaired)
    return found


def _find_mistral(text: str, catalog: ToolCatalog, config: RepairConfig) -> _Found:
    """`[TOOL_CALLS][{"name": ..., "arguments": ...}, ...]`, `[TOOL_CALLS]name{...}`, `[TOOL_CALLS]name[ARGS]{...}`."""
    found = _Found()
    marker = text.find(_MISTRAL_MARKER)
    while marker >= 0:
        start = marker + len(_MISTRAL_MARKER)
        parsed = _mistral_calls(text, start, catalog, config)
        if parsed is not None:
            calls, end = parsed
            found.calls.extend(calls)
            found.spans.append((marker, end))
            start = end
        marker = text.find(_MISTRAL_MARKER, start)
    return found


def _mistral_calls(text: str, start: int, catalog: ToolCatalog,
                   config: RepairConfig) -> tuple[list[tuple[str, str]], int] | None:
    """The calls after one [TOOL_CALLS] marker and where they end, if every one names a known tool."""
    position = start
    while position < len(text) and text[position].isspace():
        position += 1
    if text.startswith(("[", "{"), position):
        try:
            value, end = DECODER.raw_decode(text, position)
        except json.JSONDecodeError:
            return None
        items = value if isinstance(value, list) else [value]
        calls = [_call_parts(item, catalog, config, need_arguments=False) for item in items]
        if not calls or any(call is None for call in calls):
            return None
        return [call for call in calls if call is not None], end
    named = _MISTRAL_NAMED.match(text, position)
    if named is None or not catalog.resolves(named.group(1), mapping=config.tool_names):
        return None
    try:
        arguments, end = DECODER.raw_decode(text, named.end())
    except json.JSONDecodeError:
        return None
    if not isinstance(arguments, dict):
        return None
    return [(named.group(1), json.dumps(arguments, ensure_ascii=False))], end


def _find_bare_json(text: str, catalog: ToolCatalog, config: RepairConfig) -> _Found:
    """JSON objects in the text (fenced or not) shaped {"name": <a tool>, "arguments"|"parameters": ...}."""
    found = _Found()
    start = text.find("{")
    tried = 0
    while start >= 0 and tried < MAX_OBJECT_STARTS:
        tried += 1
        try:
            value, end = DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        parts = _call_parts(value, catalog, config, need_arguments=True)
        if parts is not None:
            found.calls.append(parts)
            found.spans.append((start, end))
        start = text.find("{", end)
    return found
