"""The numbers: per setting, agent and fault kind, the share of episodes reproducing their recorded reward (95% Wilson
interval), V2's repair precision, the denominator's exclusions grouped by reason, and the targets."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .faults import KINDS
from .runner import EpisodeResult


def wilson(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion (0, 0 for no trials)."""
    if total == 0:
        return 0.0, 0.0
    share = successes / total
    denominator = 1 + z * z / total
    centre = (share + z * z / (2 * total)) / denominator
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Row:
    setting: str
    agent: str
    kind: str  # "all" or a fault kind
    episodes: int
    reproduced: int
    faulted_turns: int
    recovered_turns: int  # faulted turns whose dispatched message matched the recording in the end
    repairs: int
    repairs_correct: int

    @property
    def share(self) -> float:
        return self.reproduced / self.episodes if self.episodes else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.reproduced, self.episodes)

    @property
    def precision(self) -> float | None:
        return self.repairs_correct / self.repairs if self.repairs else None

    def as_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {"setting": self.setting, "agent": self.agent, "kind": self.kind, "episodes": self.episodes,
                "reproduced": self.reproduced, "share": round(self.share, 4), "wilson95": [round(low, 4),
                                                                                         round(high, 4)],
                "faulted_turns": self.faulted_turns, "recovered_turns": self.recovered_turns, "repairs": self.repairs,
                "repairs_correct": self.repairs_correct,
                "repair_precision": None if self.precision is None else round(self.precision, 4)}


def _faulted_turns(result: EpisodeResult, kind: str) -> set[int]:
    return {fault["turn"] for fault in result.replay.get("faults", []) if kind in ("all", fault["kind"])}


def _row(setting: str, agent: str, kind: str, results: Sequence[EpisodeResult]) -> Row:
    """KIND's row: its episodes, and the repairs V2 made on the turns faulted with KIND (on every turn for 'all')."""
    faulted = recovered = repaired = correct = 0
    for result in results:
        turns = _faulted_turns(result, kind)
        faulted += len(turns)
        confirmed = int(result.replay.get("confirmed_before") or 0)
        matched = {turn.turn for turn in result.turns if turn.matched}
        recovered += sum(1 for turn in turns if turn < confirmed or turn in matched)
        for turn in result.turns:
            if turn.repairs and (kind == "all" or turn.turn in turns):
                repaired += 1
                correct += int(turn.matched)
    return Row(setting, agent, kind, len(results), sum(result.reproduced for result in results), faulted, recovered,
               repaired, correct)


def unfaulted_repairs(results: Iterable[EpisodeResult]) -> int:
    """Repairs on turns the endpoint never faulted: what V2 changed in a well-formed recorded message."""
    return sum(1 for result in results for turn in result.turns
               if turn.repairs and turn.turn not in _faulted_turns(result, "all"))


def rows(results: Iterable[EpisodeResult]) -> list[Row]:
    """An 'all' row per (setting, agent), then one per fault kind that was injected."""
    grouped: dict[tuple[str, str], list[EpisodeResult]] = defaultdict(list)
    for result in results:
        grouped[(result.setting, result.agent)].append(result)
    table = []
    for (setting, agent), members in grouped.items():
        table.append(_row(setting, agent, "all", members))
        for kind in KINDS:
            with_kind = [result for result in members if kind in result.fault_kinds()]
            if with_kind:
                table.append(_row(setting, agent, kind, with_kind))
    return table


def format_table(table: Sequence[Row]) -> str:
    header = (f"{'setting':<14} {'agent':<13} {'fault kind':<10} {'episodes':>8} {'reproduced':>10} "
              f"{'share':>6} {'95% Wilson':>11} {'faulted turns (recovered)':>25} {'repair precision':>18}")
    lines = [header, "-" * len(header)]
    for row in table:
        low, high = row.interval
        precision = "-" if row.precision is None else f"{row.precision:.1%} ({row.repairs_correct}/{row.repairs})"
        turns = f"{row.faulted_turns} ({row.recovered_turns})"
        lines.append(f"{row.setting:<14} {row.agent:<13} {row.kind:<10} {row.episodes:>8} {row.reproduced:>10} "
                     f"{row.share:>6.1%} {f'{low:.0%}-{high:.0%}':>11} {turns:>25} {precision:>18}")
    return "\n".join(lines)


def exclusion_reasons(results: Iterable[EpisodeResult], recorded_end: dict[str, str] | None = None) -> Counter[str]:
    """Why baseline episodes did not reproduce, grouped (the endpoint's category, the raise, or the reward), with
    how the recording ended when RECORDED_END (key -> termination reason) is given."""
    return Counter((result.reason or "") + (f"; the recording ended {recorded_end[result.key]}" if recorded_end else "")
                   for result in results if not result.reproduced)


def repairs_by_kind(results: Iterable[EpisodeResult]) -> dict[str, dict[str, int]]:
    """V2's repair counters summed per repair kind, split by whether the repaired message matched the recording."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"messages": 0, "matched": 0})
    for result in results:
        for turn in result.turns:
            for kind in turn.repairs:
                totals[kind]["messages"] += 1
                totals[kind]["matched"] += int(turn.matched)
    return dict(totals)


@dataclass(frozen=True)
class Target:
    name: str
    met: bool
    detail: str

    def line(self) -> str:
        return f"[{'met' if self.met else 'MISSED'}] {self.name}: {self.detail}"
