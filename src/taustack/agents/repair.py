"""Tool calls repaired and validated before LLMAgentV2 dispatches them to tau2's environment.

Small open models emit arguments that are almost JSON, write tool calls into the text (hermes `<tool_call>` tags,
Mistral `[TOOL_CALLS]`, a bare JSON object), prefix tool names with a namespace or give an id as a number. What can
be repaired unambiguously is repaired and counted by kind; anything else (a near-miss tool name, a missing required
argument, an enum violation) becomes one problem line that the agent quotes in a re-prompt. Nothing is ever guessed:
a near-miss name can be another, state-changing tool. Valid input passes through unchanged with no repairs counted.

Pure: stdlib and pydantic only (no tau2, no litellm), so the tests are fast.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from taustack.agents.config import RepairConfig

KIND_JSON_ARGUMENTS = "json_arguments"
KIND_LEAKED_HERMES = "leaked_hermes"
KIND_LEAKED_MISTRAL = "leaked_mistral"
KIND_LEAKED_JSON = "leaked_json"
KIND_TOOL_NAME = "tool_name"
KIND_COERCION = "coercion"

LEAKED_ID_PREFIX = "call_leaked_"
_SNIPPET_CHARS = 120
_MAX_OBJECT_STARTS = 200  # '{' positions tried when looking for an object in text


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


def repair_message(content: str | None, calls: Sequence[RawToolCall], tools: Sequence[Mapping[str, Any]],
                   config: RepairConfig) -> RepairOutcome:
    """Repair and validate one assistant message's tool calls against `tools` (OpenAI tool schemas).

    With `config.enabled` False this is tau2's stock behaviour: `json.loads` on the arguments (an empty string is
    `{}`), a JSONDecodeError raised, no other check. Else each sub-flag of `config` switches its own step.
    """
    if not config.enabled:
        return _strict_message(content, calls)
    catalog = _Catalog(tools)
    repairs: Counter[str] = Counter()
    raw_calls = list(calls)
    if not raw_calls and config.leaked_calls and content:
        leak = _extract_leaked(content, catalog, config)
        if leak.calls:
            content, raw_calls = leak.content, leak.calls
            repairs.update(leak.repairs)
    out: list[ToolCallOut] = []
    problem: str | None = None
    for call in raw_calls:
        result = _repair_call(call, catalog, config, repairs)
        if isinstance(result, ToolCallOut):
            out.append(result)
        elif problem is None:
            problem = result
    return RepairOutcome(content=content, calls=out, repairs=repairs, problem=problem)


def reprompt_text(problem: str) -> str:
    """The user-turn text of a re-prompt: the error quoted exactly, then a request for one valid message."""
    return (f"Your last message could not be used. Error: {problem}\n"
            "Send it again as one valid message: either text for the user, or tool calls that use the exact tool "
            "names with JSON-object arguments that match each tool's parameters; never both, never empty.")


# -- stock behaviour ---------------------------------------------------------------------------------------------


def _strict_message(content: str | None, calls: Sequence[RawToolCall]) -> RepairOutcome:
    out = []
    for call in calls:
        arguments = {} if call.arguments == "" else json.loads(call.arguments)
        if not isinstance(arguments, dict):
            raise ValueError(f"tool '{call.name}': arguments must be a JSON object, got {_describe_value(arguments)}")
        out.append(ToolCallOut(id=call.id, name=call.name, arguments=arguments))
    return RepairOutcome(content=content, calls=out, repairs=Counter())


# -- one call ----------------------------------------------------------------------------------------------------


def _repair_call(call: RawToolCall, catalog: _Catalog, config: RepairConfig,
                 repairs: Counter[str]) -> ToolCallOut | str:
    """The call ready to dispatch, or the problem line."""
    name, problem = catalog.resolve(call.name, mapping=config.tool_names)
    if problem is not None:
        return problem
    if name != call.name:
        repairs[KIND_TOOL_NAME] += 1
    try:
        arguments, repaired = _decode_arguments(call.arguments, repair=config.json_arguments)
    except json.JSONDecodeError as exc:
        return f"tool '{name}': arguments are not valid JSON ({exc}): {_snippet(call.arguments)}"
    except _AmbiguousJSON:
        return f"tool '{name}': arguments hold more than one JSON object: {_snippet(call.arguments)}"
    if repaired:
        repairs[KIND_JSON_ARGUMENTS] += 1
    if not isinstance(arguments, dict):
        return f"tool '{name}': arguments must be a JSON object, got {_describe_value(arguments)}"
    schema = catalog.parameters.get(name)
    if config.schema_check and schema is not None:
        try:
            arguments, coercions = _SchemaChecker(schema).check(arguments, schema, "", coerce=True)
        except _SchemaError as exc:
            return f"tool '{name}': {exc}"
        if coercions:
            repairs[KIND_COERCION] += coercions
    return ToolCallOut(id=call.id, name=name, arguments=arguments)


# -- tool names --------------------------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s_.\-]+")
_MCP_NAMESPACE = re.compile(r"^mcp__.+?__(?=.)")


def _name_key(name: str) -> str:
    return _SEPARATORS.sub("", name).lower()


def _name_forms(name: str) -> set[str]:
    """The name as written, after an `mcp__server__` namespace, and after the last `.` (functions., tools., ...)."""
    base = name.strip()
    forms = {base}
    namespace = _MCP_NAMESPACE.match(base)
    if namespace:
        forms.add(base[namespace.end():])
    if "." in base:
        forms.add(base.rsplit(".", 1)[1])
    return forms


class _Catalog:
    """The tools by name, in the order given."""

    def __init__(self, tools: Sequence[Mapping[str, Any]]) -> None:
        self.parameters: dict[str, Mapping[str, Any]] = {}
        for tool in tools:
            function = tool.get("function")
            spec: Mapping[str, Any] = function if isinstance(function, Mapping) else tool
            name = spec.get("name")
            if isinstance(name, str) and name not in self.parameters:
                parameters = spec.get("parameters")
                self.parameters[name] = parameters if isinstance(parameters, Mapping) else {}

    def candidates(self, name: str) -> list[str]:
        keys = {_name_key(form) for form in _name_forms(name)} - {""}
        return [tool for tool in self.parameters if _name_key(tool) in keys]

    def resolve(self, name: str, *, mapping: bool) -> tuple[str, str | None]:
        """(the tool's name, None), or (name, problem). Without mapping an unknown name passes unchecked."""
        if name in self.parameters or not mapping:
            return name, None
        found = self.candidates(name)
        if len(found) == 1:
            return found[0], None
        if found:
            return name, f"tool name '{name}' is ambiguous: it could be {' or '.join(found)}"
        return name, f"unknown tool '{name}'; the tools are: {', '.join(self.parameters) or '(none)'}"

    def resolves(self, name: str, *, mapping: bool) -> bool:
        if name in self.parameters:
            return True
        return mapping and len(self.candidates(name)) == 1


# -- arguments ---------------------------------------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_FENCE = re.compile(r"^```[\w+\-]*[ \t]*\n?(.*?)\n?[ \t]*(?:```)?$", re.DOTALL)


class _AmbiguousJSON(Exception):
    """Text that holds more than one JSON object: which one was meant is a guess."""


def _decode_arguments(text: str, *, repair: bool) -> tuple[Any, bool]:
    """(value, repaired). Without repair: json.loads, an empty string is {}. Raises JSONDecodeError, _AmbiguousJSON."""
    if text == "":
        return {}, False
    try:
        value = json.loads(text)
        repaired = False
    except json.JSONDecodeError as exc:
        if not repair:
            raise
        if text.strip() == "":
            return {}, True
        value = _repair_json(text, exc)
        repaired = True
    if repair and isinstance(value, str) and value.strip().startswith(("{", "```")):
        try:
            inner, _ = _decode_arguments(value, repair=True)
        except (json.JSONDecodeError, _AmbiguousJSON):
            return value, repaired
        if isinstance(inner, dict):
            return inner, True
    return value, repaired


def _repair_json(text: str, error: json.JSONDecodeError) -> Any:
    """The one JSON value `text` unambiguously means, else `error` (or _AmbiguousJSON) is raised."""
    body = _unfence(text.strip())
    try:
        return json.loads(body, strict=False)  # fenced, or a raw line break inside a string
    except json.JSONDecodeError:
        pass
    literal = _literal_dict(body)
    if literal is not None:
        return literal
    found = _first_object(body)
    if found is not None:
        return found
    raise error


def _unfence(text: str) -> str:
    """The inside of a ```json ... ``` fence (also an unclosed one); text without a leading fence as is."""
    if not text.startswith("```"):
        return text
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def _literal_dict(text: str) -> dict[str, Any] | None:
    """A Python dict literal ({'a': True, 'b': None}) as JSON data, or None."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    try:
        data = _as_json_data(value)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _as_json_data(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, (list, tuple)):
        return [_as_json_data(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _as_json_data(item) for key, item in value.items()}
    raise ValueError(f"not JSON data: {type(value).__name__}")


def _first_object(text: str) -> dict[str, Any] | None:
    """The first complete JSON object in text (leading and trailing text ignored), as JSON or as Python-ish JSON.

    Raises _AmbiguousJSON when the text after it holds another object.
    """
    for start in _object_starts(text):
        segment = text[start:]
        for form in (segment, _pythonish_to_json(segment)):
            try:
                value, end = _DECODER.raw_decode(form)
            except json.JSONDecodeError:
                continue
            if not isinstance(value, dict):
                continue
            if _holds_object(form[end:]):
                raise _AmbiguousJSON
            return value
    return None


def _object_starts(text: str) -> Iterable[int]:
    start = text.find("{")
    tried = 0
    while start >= 0 and tried < _MAX_OBJECT_STARTS:
        yield start
        tried += 1
        start = text.find("{", start + 1)


def _holds_object(text: str) -> bool:
    for start in _object_starts(text):
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return True
    return False


def _pythonish_to_json(text: str) -> str:
    """Single-quoted strings to JSON strings, True/False/None to true/false/null, trailing commas removed.

    Double-quoted strings are copied verbatim; what cannot be converted (an unclosed quote) is copied as is.
    """
    out: list[str] = []
    i, size = 0, len(text)
    while i < size:
        char = text[i]
        if char == '"':
            end = _string_end(text, i, '"')
            out.append(text[i:end])
            i = end
        elif char == "'":
            end = _string_end(text, i, "'")
            converted = _single_quoted(text[i:end])
            out.append(converted if converted is not None else text[i:end])
            i = end
        elif char.isalpha() or char == "_":
            end = i
            while end < size and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[i:end]
            out.append({"True": "true", "False": "false", "None": "null"}.get(word, word))
            i = end
        elif char == ",":
            following = i + 1
            while following < size and text[following].isspace():
                following += 1
            if following >= size or text[following] not in "}]":
                out.append(char)
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _string_end(text: str, start: int, quote: str) -> int:
    """The index after the closing quote of the string that opens at start (len(text) when unclosed)."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return len(text)


def _single_quoted(literal: str) -> str | None:
    if len(literal) < 2 or not literal.endswith("'"):
        return None
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return None
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else None


# -- tool calls leaked into the content --------------------------------------------------------------------------

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


def _extract_leaked(content: str, catalog: _Catalog, config: RepairConfig) -> _Leak:
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


def _call_parts(value: Any, catalog: _Catalog, config: RepairConfig, *,
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


def _find_hermes(text: str, catalog: _Catalog, config: RepairConfig) -> _Found:
    found = _Found()
    for match in _HERMES.finditer(text):
        try:
            value, repaired = _decode_arguments(match.group(1).strip(), repair=config.json_arguments)
        except (json.JSONDecodeError, _AmbiguousJSON):
            continue
        parts = _call_parts(value, catalog, config, need_arguments=False)
        if parts is not None:
            found.calls.append(parts)
            found.spans.append(match.span())
            found.json_repairs += int(repaired)
    return found


def _find_mistral(text: str, catalog: _Catalog, config: RepairConfig) -> _Found:
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


def _mistral_calls(text: str, start: int, catalog: _Catalog,
                   config: RepairConfig) -> tuple[list[tuple[str, str]], int] | None:
    """The calls after one [TOOL_CALLS] marker and where they end, if every one names a known tool."""
    position = start
    while position < len(text) and text[position].isspace():
        position += 1
    if text.startswith(("[", "{"), position):
        try:
            value, end = _DECODER.raw_decode(text, position)
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
        arguments, end = _DECODER.raw_decode(text, named.end())
    except json.JSONDecodeError:
        return None
    if not isinstance(arguments, dict):
        return None
    return [(named.group(1), json.dumps(arguments, ensure_ascii=False))], end


def _find_bare_json(text: str, catalog: _Catalog, config: RepairConfig) -> _Found:
    """JSON objects in the text (fenced or not) shaped {"name": <a tool>, "arguments"|"parameters": ...}."""
    found = _Found()
    start = text.find("{")
    tried = 0
    while start >= 0 and tried < _MAX_OBJECT_STARTS:
        tried += 1
        try:
            value, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        parts = _call_parts(value, catalog, config, need_arguments=True)
        if parts is not None:
            found.calls.append(parts)
            found.spans.append((start, end))
        start = text.find("{", end)
    return found


# -- schema check ------------------------------------------------------------------------------------------------

_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "array": "an array", "object": "an object", "null": "null"}


class _SchemaError(Exception):
    """One line naming the argument (its path: passengers[0].dob) and what is wrong."""


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_type(value: Any, type_name: str) -> bool:
    actual = _json_type(value)
    if type_name == "number":
        return actual in ("integer", "number")
    if type_name in _TYPE_NAMES:
        return actual == type_name
    return True  # a type this checker does not know is not held against the value


def _coerce(value: Any, type_name: str) -> tuple[bool, Any]:
    """(True, the value as type_name) for a safe coercion, else (False, None)."""
    actual = _json_type(value)
    if type_name == "integer":
        if actual == "number" and math.isfinite(value) and float(value).is_integer():
            return True, int(value)
        if actual == "string" and _INTEGER_TEXT.fullmatch(value.strip()):
            return True, int(value.strip())
    elif type_name == "number" and actual == "string":
        text = value.strip()
        if _INTEGER_TEXT.fullmatch(text):
            return True, int(text)
        if _NUMBER_TEXT.fullmatch(text) and math.isfinite(float(text)):
            return True, float(text)
    elif type_name == "boolean" and actual == "string" and value.strip().lower() in ("true", "false"):
        return True, value.strip().lower() == "true"
    elif type_name == "string" and actual in ("integer", "number") and math.isfinite(value):
        return True, json.dumps(value)
    elif type_name in ("array", "object") and actual == "string":
        opener = "[" if type_name == "array" else "{"
        if value.strip().startswith(opener):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                return False, None
            if _json_type(parsed) == type_name:
                return True, parsed
    return False, None


def _join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    return _snippet(json.dumps(value, ensure_ascii=False), limit=60)


def _describe_value(value: Any) -> str:
    actual = _json_type(value)
    return f"{_TYPE_NAMES.get(actual, actual)} {_show(value)}" if actual != "null" else "null"


class _SchemaChecker:
    """A value checked against a JSON schema as pydantic emits them for tau2's tools ($defs, $ref, anyOf...)."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def check(self, value: Any, schema: Any, path: str, *, coerce: bool) -> tuple[Any, int]:
        """(value, coercions made). Raises _SchemaError."""
        schema = self._deref(schema)
        if not isinstance(schema, Mapping):
            return value, 0
        coercions = 0
        for union in ("anyOf", "oneOf"):
            if isinstance(schema.get(union), list) and schema[union]:
                value, made = self._check_union(value, schema[union], path, coerce=coerce)
                coercions += made
        for part in schema.get("allOf") or []:
            value, made = self.check(value, part, path, coerce=coerce)
            coercions += made
        if "type" in schema:
            value, made = self._check_type(value, schema["type"], path, coerce=coerce)
            coercions += made
        self._check_values(value, schema, path)
        if isinstance(value, dict):
            value, made = self._check_object(value, schema, path, coerce=coerce)
            coercions += made
        elif isinstance(value, list):
            value, made = self._check_array(value, schema, path, coerce=coerce)
            coercions += made
        return value, coercions

    def _deref(self, schema: Any) -> Any:
        seen: set[str] = set()
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and schema["$ref"] not in seen:
            reference = schema["$ref"]
            seen.add(reference)
            target = self._lookup(reference)
            if target is None:
                return {key: item for key, item in schema.items() if key != "$ref"}
            schema = {**target, **{key: item for key, item in schema.items() if key != "$ref"}}
        return schema

    def _lookup(self, reference: str) -> Mapping[str, Any] | None:
        if not reference.startswith("#/"):
            return None
        node: Any = self.root
        for part in reference[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node if isinstance(node, Mapping) else None

    def _check_union(self, value: Any, branches: list[Any], path: str, *, coerce: bool) -> tuple[Any, int]:
        for branch in branches:
            try:
                return self.check(value, branch, path, coerce=False)
            except _SchemaError:
                pass
        if coerce:
            for branch in branches:
                try:
                    return self.check(value, branch, path, coerce=True)
                except _SchemaError:
                    pass
        same_type = [branch for branch in branches if self._declares_type_of(branch, value)]
        if len(same_type) == 1:
            return self.check(value, same_type[0], path, coerce=coerce)  # raises its own, more precise error
        expected = []
        for branch in branches:
            description = self._describe(branch)
            if description not in expected:
                expected.append(description)
        raise _SchemaError(f"argument '{path}' must be {' or '.join(expected)}, got {_describe_value(value)}")

    def _declares_type_of(self, branch: Any, value: Any) -> bool:
        branch = self._deref(branch)
        if not isinstance(branch, Mapping) or "type" not in branch:
            return False
        declared = branch["type"]
        names = [declared] if isinstance(declared, str) else list(declared)
        return any(_is_type(value, name) for name in names)

    def _describe(self, branch: Any) -> str:
        branch = self._deref(branch)
        if isinstance(branch, Mapping):
            if "enum" in branch:
                return "one of " + ", ".join(_show(item) for item in branch["enum"])
            declared = branch.get("type")
            if isinstance(declared, str):
                return _TYPE_NAMES.get(declared, declared)
            if isinstance(declared, list):
                return " or ".join(_TYPE_NAMES.get(name, str(name)) for name in declared)
        return "a value matching the schema"

    def _check_type(self, value: Any, declared: Any, path: str, *, coerce: bool) -> tuple[Any, int]:
        names = [declared] if isinstance(declared, str) else [name for name in declared if isinstance(name, str)]
        if not names or any(_is_type(value, name) for name in names):
            return value, 0
        if coerce:
            for name in names:
                coerced, converted = _coerce(value, name)
                if coerced:
                    return converted, 1
        expected = " or ".join(_TYPE_NAMES.get(name, name) for name in names)
        raise _SchemaError(f"argument '{path}' must be {expected}, got {_describe_value(value)}")

    def _check_values(self, value: Any, schema: Mapping[str, Any], path: str) -> None:
        if "enum" in schema and not any(_same(value, allowed) for allowed in schema["enum"]):
            allowed = ", ".join(_show(item) for item in schema["enum"])
            raise _SchemaError(f"argument '{path}' must be one of {allowed}; got {_show(value)}")
        if "const" in schema and not _same(value, schema["const"]):
            raise _SchemaError(f"argument '{path}' must be {_show(schema['const'])}; got {_show(value)}")

    def _check_object(self, value: dict[str, Any], schema: Mapping[str, Any], path: str, *,
                      coerce: bool) -> tuple[dict[str, Any], int]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        for key in schema.get("required") or []:
            if key not in value:
                raise _SchemaError(f"missing required argument '{_join_path(path, key)}'")
        extra = schema.get("additionalProperties", True)
        checked: dict[str, Any] = {}
        coercions = 0
        for key, item in value.items():
            where = _join_path(path, key)
            if key in properties:
                checked[key], made = self.check(item, properties[key], where, coerce=coerce)
                coercions += made
            elif extra is False:
                allowed = ", ".join(properties) or "(none)"
                raise _SchemaError(f"unknown argument '{where}'; the arguments are: {allowed}")
            elif isinstance(extra, Mapping):
                checked[key], made = self.check(item, extra, where, coerce=coerce)
                coercions += made
            else:
                checked[key] = item
        return checked, coercions

    def _check_array(self, value: list[Any], schema: Mapping[str, Any], path: str, *,
                     coerce: bool) -> tuple[list[Any], int]:
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return value, 0
        checked = []
        coercions = 0
        for index, item in enumerate(value):
            result, made = self.check(item, items, f"{path}[{index}]", coerce=coerce)
            checked.append(result)
            coercions += made
        return checked, coercions


def _same(value: Any, allowed: Any) -> bool:
    """JSON equality: True is not 1."""
    return bool(value == allowed) and isinstance(value, bool) == isinstance(allowed, bool)


# -- text --------------------------------------------------------------------------------------------------------


def _snippet(text: str, limit: int = _SNIPPET_CHARS) -> str:
    """Text cut to limit characters, on one line (line breaks written as \\n)."""
    cut = text if len(text) <= limit else text[:limit] + "..."
    return cut.replace("\r", "\\r").replace("\n", "\\n")
