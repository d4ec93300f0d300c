"""Domain catalogs (policy, tool schemas, prompts, task splits per domain): shipped copies or --catalog DIR."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from taustack.dataset.results import DatasetError
from taustack.fileio import read_json

TICKET_PLACEHOLDER = "{ticket}"


@dataclass(frozen=True)
class DomainCatalog:
    """What a domain's `<domain>.json` holds that a dataset needs."""

    domain: str
    policy: str | None
    agent_tools: list[dict[str, Any]]
    user_tools: list[dict[str, Any]] | None
    system_prompt_agent: str | None
    system_prompt_solo: str | None
    solo_tools: list[dict[str, Any]] | None
    task_splits: dict[str, list[str]] | None

    def agent_prompt(self, policy: str | None) -> str | None:
        """tau2's agent system prompt, with `policy` (the run's own, when it stored one) in place of ours."""
        if self.system_prompt_agent is None:
            return None
        if policy and self.policy and self.policy in self.system_prompt_agent:
            return self.system_prompt_agent.replace(self.policy, policy, 1)
        return self.system_prompt_agent

    def solo_prompt(self, ticket: str) -> str | None:
        """tau2's solo system prompt with the task's ticket filled in."""
        if self.system_prompt_solo is None:
            return None
        return self.system_prompt_solo.replace(TICKET_PLACEHOLDER, ticket, 1)

    def split_of(self, task_id: str) -> str | None:
        """'train' or 'test' in tau2's own split, None when the task is in neither."""
        splits = self.task_splits or {}
        for name in ("test", "train"):
            if task_id in set(splits.get(name) or []):
                return name
        return None


def shipped_dir() -> Path:
    """The copies of tau2's domain files that ship with taustack (MIT, see LICENSE.tau2 there)."""
    return Path(str(resources.files("taustack.dataset") / "domains"))


class Catalogs:
    """Loads `<domain>.json` on first use, from --catalog DIR first, then from the shipped copies."""

    def __init__(self, override: Path | None = None) -> None:
        if override is not None and not override.is_dir():
            raise DatasetError(f"--catalog {override}: not a folder")
        self.folders = [f for f in (override, shipped_dir()) if f is not None]
        self._loaded: dict[str, DomainCatalog | None] = {}

    def get(self, domain: str) -> DomainCatalog | None:
        if domain not in self._loaded:
            self._loaded[domain] = self._load(domain)
        return self._loaded[domain]

    def path_of(self, domain: str) -> Path | None:
        return next((f / f"{domain}.json" for f in self.folders if (f / f"{domain}.json").is_file()), None)

    def _load(self, domain: str) -> DomainCatalog | None:
        path = self.path_of(domain)
        if path is None or "/" in domain:
            return None
        data = read_json(path, "catalog", DatasetError)
        if not isinstance(data, dict) or not isinstance(data.get("agent_tools"), list):
            raise DatasetError(f"catalog {path}: not a tau2 domain file (needs 'agent_tools')")
        solo = data.get("solo") or {}
        return DomainCatalog(
            domain=domain, policy=data.get("policy"), agent_tools=data["agent_tools"],
            user_tools=data.get("user_tools"), system_prompt_agent=data.get("system_prompt_agent"),
            system_prompt_solo=data.get("system_prompt_solo") or solo.get("system_prompt_solo"),
            solo_tools=solo.get("solo_tools"), task_splits=data.get("task_splits"),
        )

    def generic_agent_prompt(self, policy: str) -> str | None:
        """tau2's agent prompt around `policy`, for a domain no catalog knows (its instructions are domain-free)."""
        for domain in ("airline", "retail", "mock"):
            catalog = self.get(domain)
            if catalog and catalog.policy and catalog.system_prompt_agent and \
                    catalog.policy in catalog.system_prompt_agent:
                return catalog.system_prompt_agent.replace(catalog.policy, policy, 1)
        return None


def tools_from_defs(tool_defs: Any) -> list[dict[str, Any]] | None:
    """OpenAI tool schemas from a results file's `tool_defs` ({name: {name, doc, params}} or a list of schemas)."""
    if isinstance(tool_defs, list) and tool_defs and all(isinstance(t, dict) and "function" in t for t in tool_defs):
        return tool_defs
    if not isinstance(tool_defs, dict) or not tool_defs:
        return None
    tools: list[dict[str, Any]] = []
    for name, definition in tool_defs.items():
        definition = definition if isinstance(definition, dict) else {}
        description = _summary(str(definition.get("doc") or ""))
        parameters = definition.get("params") or {"type": "object", "properties": {}}
        tools.append({"type": "function", "function": {"name": str(definition.get("name") or name),
                                                       "description": description, "parameters": parameters}})
    return tools


def _summary(doc: str) -> str:
    """The docstring's first paragraph from tau2's rendering (a signature line, then the quoted docstring)."""
    lines = doc.strip().splitlines()
    body = lines[1:] if len(lines) > 1 and lines[0].lstrip().startswith("def ") else lines
    text = textwrap.dedent("\n".join(body)).replace('"""', "").strip()
    return text.split("\n\n")[0].strip()
