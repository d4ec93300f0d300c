"""tau2's message protocol applied to a repaired message: text OR tool calls, never both, never empty.

tau2 rejects an assistant message that holds both text and tool calls, and one that holds neither. Small models
often write a sentence and a call in one message; `ProtocolConfig.mixed` says which half survives (or whether the
model is re-prompted). An empty message is always re-prompted. Pure: no tau2, no litellm.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from taustack.agents.config import ProtocolConfig
from taustack.agents.repair import RepairOutcome

KIND_MIXED_DROPPED_TEXT = "protocol_mixed_dropped_text"
KIND_MIXED_DROPPED_CALLS = "protocol_mixed_dropped_calls"

EMPTY_PROBLEM = ("empty message: it holds neither text nor a tool call; reply with text for the user or with "
                 "tool calls")


def apply_protocol(outcome: RepairOutcome, config: ProtocolConfig) -> RepairOutcome:
    """A new outcome that keeps tau2's protocol; an outcome that already has a problem comes back unchanged."""
    if outcome.problem is not None or not config.enabled:
        return _copy(outcome)
    has_text = outcome.content is not None and outcome.content.strip() != ""
    if outcome.calls and has_text:
        return _mixed(outcome, config)
    if not outcome.calls and not has_text:
        return _copy(outcome, problem=EMPTY_PROBLEM)
    return _copy(outcome)


def mixed_problem(outcome: RepairOutcome) -> str:
    """What is wrong with a message that holds both text and tool calls, one line."""
    names = ", ".join(call.name for call in outcome.calls)
    count = len(outcome.calls)
    return (f"mixed message: it holds text and {count} tool call{'s' if count != 1 else ''} ({names}); a message "
            "is either text for the user or tool calls, never both")


def _mixed(outcome: RepairOutcome, config: ProtocolConfig) -> RepairOutcome:
    if config.mixed == "tool_calls":
        return _copy(outcome, drop_text=True, count=KIND_MIXED_DROPPED_TEXT)
    if config.mixed == "text":
        return _copy(outcome, drop_calls=True, count=KIND_MIXED_DROPPED_CALLS)
    return _copy(outcome, problem=mixed_problem(outcome))


def _copy(outcome: RepairOutcome, *, drop_text: bool = False, drop_calls: bool = False, count: str | None = None,
          problem: str | None = None) -> RepairOutcome:
    """A new outcome (fresh list and Counter: the input is never mutated) with the changes named."""
    repairs = Counter(outcome.repairs)
    if count is not None:
        repairs[count] += 1
    return replace(
        outcome,
        content=None if drop_text else outcome.content,
        calls=[] if drop_calls else list(outcome.calls),
        repairs=repairs,
        problem=problem if problem is not None else outcome.problem,
    )
