"""Tool-call arguments that are almost JSON, decoded when the repair is unambiguous: code fences, text around one
object, single quotes, Python literals, an object inside a JSON string, trailing commas."""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterable
from typing import Any

MAX_OBJECT_STARTS = 200  # '{' positions tried when looking for an object in text

DECODER = json.JSONDecoder()
_FENCE = re.compile(r"^```[\w+\-]*[ \t]*\n?(.*?)\n?[ \t]*(?:```)?$", re.DOTALL)


class AmbiguousJSON(Exception):
    """Text that holds more than one JSON object: which one was meant is a guess."""


def decode_arguments(text: str, *, repair: bool) -> tuple[Any, bool]:
    """(value, repaired). Without repair: json.loads, an empty string is {}. Raises JSONDecodeError, AmbiguousJSON."""
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
            inner, _ = decode_arguments(value, repair=True)
        except (json.JSONDecodeError, AmbiguousJSON):
            return value, repaired
        if isinstance(inner, dict):
            return inner, True
    return value, repaired


def _repair_json(text: str, error: json.JSONDecodeError) -> Any:
    """The one JSON value `text` unambiguously means, else `error` (or AmbiguousJSON) is raised."""
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

    Raises AmbiguousJSON when the text after it holds another object.
    """
    for start in _object_starts(text):
        segment = text[start:]
        for form in (segment, _pythonish_to_json(segment)):
            try:
                value, end = DECODER.raw_decode(form)
            except json.JSONDecodeError:
                continue
            if not isinstance(value, dict):
                continue
            if _holds_object(form[end:]):
                raise AmbiguousJSON
            return value
    return None


def _object_starts(text: str) -> Iterable[int]:
    start = text.find("{")
    tried = 0
    while start >= 0 and tried < MAX_OBJECT_STARTS:
        yield start
        tried += 1
        start = text.find("{", start + 1)


def _holds_object(text: str) -> bool:
    for start in _object_starts(text):
        try:
            value, _ = DECODER.raw_decode(text, start)
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
