"""Tool calls repaired and validated before LLMAgentV2 dispatches them to tau2's environment.

Small open models emit arguments that are almost JSON, write tool calls into the text (hermes `<tool_call>` tags,
Mistral `[TOOL_CALLS]`, a bare JSON object), prefix tool names with a namespace or give an id as a number. What can
be repaired unambiguously is repaired and counted by kind; anything else (a near-miss tool name, a missing required
argument, an enum violation) becomes one problem line that the agent quotes in a re-prompt. Nothing is ever guessed:
a near-miss name can be another, state-changing tool. Valid input passes through unchanged with no repairs counted.

The steps: leaked (calls in the text), toolnames, arguments (almost-JSON), schema; the types: calls.
Pure: stdlib and pydantic only (no tau2, no litellm), so the tests are fast.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from taustack.agents.arguments import AmbiguousJSON, decode_arguments
from taustack.agents.calls import (
    KIND_COERCION,
    KIND_JSON_ARGUMENTS,
    KIND_TOOL_NAME,
    RawToolCall,
    RepairOutcome,
    ToolCallOut,
    snippet,
)
from taustack.agents.config import RepairConfig
from taustack.agents.leaked import extract_leaked
from taustack.agents.schema import SchemaChecker, SchemaError, describe_value
from taustack.agents.toolnames import ToolCatalog

__all__ = ["RawToolCall", "RepairOutcome", "ToolCallOut", "repair_message", "reprompt_text"]


def repair_message(content: str | None, calls: Sequence[RawToolCall], tools: Sequence[Mapping[str, Any]],
                   config: RepairConfig) -> RepairOutcome:
    """Repair and validate one assistant message's tool calls against `tools` (OpenAI tool schemas).

    With `config.enabled` False this is tau2's stock behaviour: `json.loads` on the arguments (an empty string is
    `{}`), a JSONDecodeError raised, no other check. Else each sub-flag of `config` switches its own step.
    """
    if not config.enabled:
        return _strict_message(content, calls)
    catalog = ToolCatalog(tools)
    repairs: Counter[str] = Counter()
    raw_calls = list(calls)
    if not raw_calls and config.leaked_calls and content:
        leak = extract_leaked(content, catalog, config)
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
            raise ValueError(f"tool '{call.name}': arguments must be a JSON object, got {describe_value(arguments)}")
        out.append(ToolCallOut(id=call.id, name=call.name, arguments=arguments))
    return RepairOutcome(content=content, calls=out, repairs=Counter())


# -- one call ----------------------------------------------------------------------------------------------------


def _repair_call(call: RawToolCall, catalog: ToolCatalog, config: RepairConfig,
                 repairs: Counter[str]) -> ToolCallOut | str:
    """The call ready to dispatch, or the problem line."""
    name, problem = catalog.resolve(call.name, mapping=config.tool_names)
    if problem is not None:
        return problem
    if name != call.name:
        repairs[KIND_TOOL_NAME] += 1
    try:
        arguments, repaired = decode_arguments(call.arguments, repair=config.json_arguments)
    except json.JSONDecodeError as exc:
        return f"tool '{name}': arguments are not valid JSON ({exc}): {snippet(call.arguments)}"
    except AmbiguousJSON:
        return f"tool '{name}': arguments hold more than one JSON object: {snippet(call.arguments)}"
    if repaired:
        repairs[KIND_JSON_ARGUMENTS] += 1
    if not isinstance(arguments, dict):
        return f"tool '{name}': arguments must be a JSON object, got {describe_value(arguments)}"
    schema = catalog.parameters.get(name)
    if config.schema_check and schema is not None:
        try:
            arguments, coercions = SchemaChecker(schema).check(arguments, schema, "", coerce=True)
        except SchemaError as exc:
            return f"tool '{name}': {exc}"
        if coercions:
            repairs[KIND_COERCION] += coercions
    return ToolCallOut(id=call.id, name=name, arguments=arguments)
