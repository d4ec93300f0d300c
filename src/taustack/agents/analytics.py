"""What V2 did on one assistant message (counters in `raw_data["taustack"]`), and the per-simulation sums.

Counters per message: repairs by kind, re-prompts, trims (messages and tokens dropped), context retries after an
endpoint's overflow answer, votes (samples, agreement, distinct actions), transient-error retries, think calls.
`eval report` sums them per simulation (`simulation_counters`) and over a run (`sum_counters`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

RAW_KEY = "taustack"
SCALARS = ("reprompts", "trimmed_messages", "trimmed_tokens", "context_retries", "retries", "think_calls",
           "vote_samples")


@dataclass
class MessageCounters:
    """Counters of one assistant message; `as_raw()` is what goes into raw_data."""

    repairs: Counter[str] = field(default_factory=Counter)
    reprompts: int = 0
    trimmed_messages: int = 0
    trimmed_tokens: int = 0
    context_tokens: int | None = None
    context_retries: int = 0
    retries: int = 0
    think_calls: int = 0
    vote_samples: int = 0
    vote_agreement: float | None = None
    vote_distinct: int | None = None
    problems: list[str] = field(default_factory=list)

    def as_raw(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"repairs": dict(sorted(self.repairs.items()))}
        raw.update({name: getattr(self, name) for name in SCALARS})
        raw["context_tokens"] = self.context_tokens
        raw["vote_agreement"] = self.vote_agreement
        raw["vote_distinct"] = self.vote_distinct
        raw["problems"] = self.problems[-3:]
        return raw


def message_counters(message: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The counters of an assistant message of a results file (a dict), or None when V2 did not write it."""
    raw = message.get("raw_data")
    if not isinstance(raw, Mapping):
        return None
    counters = raw.get(RAW_KEY)
    return counters if isinstance(counters, Mapping) else None


def simulation_counters(messages: Iterable[Mapping[str, Any]]) -> dict[str, int] | None:
    """Sums over a simulation's assistant messages; None when no message carries V2's counters."""
    total: Counter[str] = Counter()
    seen = False
    for message in messages:
        if message.get("role") != "assistant":
            continue
        counters = message_counters(message)
        if counters is None:
            continue
        seen = True
        total["messages"] += 1
        repairs = counters.get("repairs")
        if isinstance(repairs, Mapping):
            for kind, count in repairs.items():
                total[f"repair:{kind}"] += int(count)
                total["repairs"] += int(count)
        for name in SCALARS:
            value = counters.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                total[name] += value
        agreement = counters.get("vote_agreement")
        if isinstance(agreement, (int, float)) and agreement < 1.0:
            total["vote_disagreements"] += 1
        if counters.get("trimmed_messages"):
            total["trimmed_turns"] += 1
    return dict(total) if seen else None


def sum_counters(per_simulation: Iterable[Mapping[str, int] | None]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for counters in per_simulation:
        if counters:
            total.update(counters)
    return dict(sorted(total.items()))
