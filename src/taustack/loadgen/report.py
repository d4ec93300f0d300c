"""Summaries of a run: rates, latency percentiles, errors by kind, requests per replica; side-by-side ratios."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from taustack.loadgen.client import Sample


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    url: str
    requests: int
    errors: int
    duration_s: float
    requests_per_s: float
    output_tokens_per_s: float
    ttft_ms: dict[str, float]
    e2e_ms: dict[str, float]
    ttft_later_turns_ms: dict[str, float] = field(default_factory=dict)
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    per_replica: dict[str, int] = field(default_factory=dict)
    # multi-turn episodes: each counted once, at the replica that served most of its turns; and the share of them
    # whose every turn reached one replica (None without multi-turn episodes)
    episodes_per_replica: dict[str, int] = field(default_factory=dict)
    sticky_episodes: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_rate": self.error_rate}


def summarize(url: str, samples: Sequence[Sample], duration_s: float) -> Summary:
    ok = [sample for sample in samples if sample.ok]
    later = [sample.ttft_s for sample in ok if sample.turn >= 1]  # turns >= 2 of multi-turn episodes
    points = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
    return Summary(
        url=url,
        requests=len(samples),
        errors=len(samples) - len(ok),
        duration_s=round(duration_s, 3),
        requests_per_s=round(len(ok) / duration_s, 2) if duration_s else 0.0,
        output_tokens_per_s=round(sum(sample.output_tokens for sample in ok) / duration_s, 1) if duration_s else 0.0,
        ttft_ms={name: round(percentile([s.ttft_s for s in ok], q) * 1000, 2) for name, q in points.items()},
        e2e_ms={name: round(percentile([s.e2e_s for s in ok], q) * 1000, 2) for name, q in points.items()},
        ttft_later_turns_ms={name: round(percentile(later, q) * 1000, 2) for name, q in points.items()} if later
        else {},
        errors_by_kind=dict(collections.Counter(sample.error for sample in samples if not sample.ok)),
        per_replica=dict(sorted(collections.Counter(sample.replica or "-" for sample in ok).items())),
        **episode_placement(ok),
    )


def episode_placement(ok: Sequence[Sample]) -> dict[str, Any]:
    """Where multi-turn episodes ran: their home replica (most of their turns) and how many never left it."""
    turns: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for sample in ok:
        if sample.episode:
            turns[sample.episode][sample.replica or "-"] += 1
    episodes = [counts for counts in turns.values() if sum(counts.values()) > 1]
    if not episodes:
        return {}
    homes = collections.Counter(counts.most_common(1)[0][0] for counts in episodes)
    return {"episodes_per_replica": dict(sorted(homes.items())),
            "sticky_episodes": round(sum(len(counts) == 1 for counts in episodes) / len(episodes), 3)}


def print_summaries(summaries: Sequence[Summary], console: Console) -> None:
    table = Table(title="taustack bench", title_justify="left")
    table.add_column("")
    for summary in summaries:
        table.add_column(summary.url, justify="right")
    if len(summaries) == 2:
        table.add_column("ratio (2nd / 1st)", justify="right")

    def row(label: str, values: list[float], fmt: str = "{:.1f}") -> None:
        cells = [fmt.format(value) for value in values]
        if len(values) == 2:
            cells.append(f"{values[1] / values[0]:.3f}" if values[0] else "-")
        table.add_row(label, *cells)

    row("requests", [s.requests for s in summaries], "{:.0f}")
    row("errors", [s.errors for s in summaries], "{:.0f}")
    row("requests/s", [s.requests_per_s for s in summaries], "{:.2f}")
    row("output tokens/s", [s.output_tokens_per_s for s in summaries])
    for point in ("p50", "p90", "p99"):
        row(f"first token {point} (ms)", [s.ttft_ms[point] for s in summaries])
    if all(s.ttft_later_turns_ms for s in summaries):
        for point in ("p50", "p90", "p99"):
            row(f"first token, turns >= 2, {point} (ms)", [s.ttft_later_turns_ms[point] for s in summaries])
    for point in ("p50", "p90", "p99"):
        row(f"end to end {point} (ms)", [s.e2e_ms[point] for s in summaries])
    console.print(table)
    for summary in summaries:
        if summary.errors_by_kind:
            console.print(f"{summary.url} errors by kind: {summary.errors_by_kind}")
        console.print(f"{summary.url} requests per replica: {summary.per_replica}")
        if summary.sticky_episodes is not None:
            console.print(f"{summary.url} episodes per replica (most of their turns): {summary.episodes_per_replica};"
                          f" on one replica throughout: {summary.sticky_episodes:.0%}")
