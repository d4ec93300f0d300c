"""Arguments checked against a tool's JSON schema (required keys, types, enums, `$ref`, `anyOf`), with safe coercions
only ("3" -> 3, "true" -> true, 12345 -> "12345" for a string): never a value dropped, never a default invented."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from taustack.agents.calls import snippet

_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "array": "an array", "object": "an object", "null": "null"}


class SchemaError(Exception):
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
    return snippet(json.dumps(value, ensure_ascii=False), limit=60)


def describe_value(value: Any) -> str:
    actual = _json_type(value)
    return f"{_TYPE_NAMES.get(actual, actual)} {_show(value)}" if actual != "null" else "null"


class SchemaChecker:
    """A value checked against a JSON schema as pydantic emits them for tau2's tools ($defs, $ref, anyOf...)."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def check(self, value: Any, schema: Any, path: str, *, coerce: bool) -> tuple[Any, int]:
        """(value, coercions made). Raises SchemaError."""
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
            except SchemaError:
                pass
        if coerce:
            for branch in branches:
                try:
                    return self.check(value, branch, path, coerce=True)
                except SchemaError:
                    pass
        same_type = [branch for branch in branches if self._declares_type_of(branch, value)]
        if len(same_type) == 1:
            return self.check(value, same_type[0], path, coerce=coerce)  # raises its own, more precise error
        expected = []
        for branch in branches:
            description = self._describe(branch)
            if description not in expected:
                expected.append(description)
        raise SchemaError(f"argument '{path}' must be {' or '.join(expected)}, got {describe_value(value)}")

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
        raise SchemaError(f"argument '{path}' must be {expected}, got {describe_value(value)}")

    def _check_values(self, value: Any, schema: Mapping[str, Any], path: str) -> None:
        if "enum" in schema and not any(_same(value, allowed) for allowed in schema["enum"]):
            allowed = ", ".join(_show(item) for item in schema["enum"])
            raise SchemaError(f"argument '{path}' must be one of {allowed}; got {_show(value)}")
        if "const" in schema and not _same(value, schema["const"]):
            raise SchemaError(f"argument '{path}' must be {_show(schema['const'])}; got {_show(value)}")

    def _check_object(self, value: dict[str, Any], schema: Mapping[str, Any], path: str, *,
                      coerce: bool) -> tuple[dict[str, Any], int]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        for key in schema.get("required") or []:
            if key not in value:
                raise SchemaError(f"missing required argument '{_join_path(path, key)}'")
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
                raise SchemaError(f"unknown argument '{where}'; the arguments are: {allowed}")
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
