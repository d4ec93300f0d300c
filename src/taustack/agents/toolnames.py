"""Tool names: the tools of a request by name, and the one real tool a near-miss name can safely mean (case,
separators, a namespace prefix); anything else is a problem, never a guess."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

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


class ToolCatalog:
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
