"""The report, computed (pure): pass^k as tau2 26.3's compute_metrics gives it, pass^k without infrastructure
errors (upstream tau2's way), cluster-bootstrap intervals and clustered SEs, per task, per cell and per system (one
configuration: overall across its domains, stratified by domain, every task weighted equally as tau2 averages), and
the leaderboard check. Not estimable values are None."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from taustack import __version__
from taustack.agents import analytics
from taustack.eval import leaderboard, stats
from taustack.eval.configurations import System, systems
from taustack.eval.outcomes import Cell, Loaded, Outcome, task_key

SCHEMA_VERSION = 1
MIN_K_SHOWN = 4  # pass^1..4 are always listed (the leaderboard's); those the trials cannot support are None
WEIGHTING = ("overall = the mean over all tasks of all domains (each task weighs 1/N, as tau2 averages a pooled "
             "file); the bootstrap resamples tasks within each domain, keeping each domain's task count")


def by_task(outcomes: Sequence[Outcome]) -> dict[str, list[Outcome]]:
    """Outcomes per task id, each task's in trial order."""
    tasks: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        tasks[outcome.task_id].append(outcome)
    return {task: sorted(items, key=lambda o: o.trial) for task, items in tasks.items()}


def k_max(tasks: dict[str, list[Outcome]], declared: int) -> int:
    """tau2's get_metrics_df: the declared trial count, lowered to the fewest trials any task has."""
    fewest = min((len(v) for v in tasks.values()), default=0)
    return min(declared, fewest) if declared > 0 else fewest


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _pass_rows(groups: Sequence[dict[str, list[Outcome]]], top: int, shown: int, draws: int, seed: int,
               intervals: bool = True) -> list[dict[str, Any]]:
    """pass^k for k = 1..shown over the pooled tasks of `groups` (each group a stratum)."""
    rows = []
    for k in range(1, shown + 1):
        row: dict[str, Any] = {"k": k, "value": None}
        if intervals:
            row.update(ci_low=None, ci_high=None, se=None)
        if k <= top:
            values: list[float] = []
            strata: list[str] = []
            for index, tasks in enumerate(groups):
                for items in tasks.values():
                    values.append(stats.pass_hat_k(len(items), sum(o.success for o in items), k))
                    strata.append(str(index))
            row["value"] = _mean(values)
            if intervals:
                interval = stats.bootstrap_ci(values, strata, draws, seed + k)
                row["ci_low"], row["ci_high"] = interval if interval else (None, None)
                row["se"] = stats.clustered_se(values, strata)
        rows.append(row)
    return rows


def _usage(outcomes: Sequence[Outcome]) -> dict[str, float | None]:
    def values(name: str) -> list[float]:
        return [float(v) for o in outcomes if (v := getattr(o, name)) is not None]

    agent, user, tokens, duration = values("agent_cost"), values("user_cost"), values("tokens"), values("duration")
    return {"agent_cost_total": sum(agent) if agent else None, "user_cost_total": sum(user) if user else None,
            "tokens_total": sum(tokens) if tokens else None, "tokens_mean": _mean(tokens),
            "duration_total": sum(duration) if duration else None, "duration_mean": _mean(duration)}


def _without_infra(strata: Sequence[Sequence[Outcome]], declared: Sequence[int], shown: int) -> dict[str, Any]:
    """pass^k without the simulations that ended in an infrastructure error; `strata`: each one's outcomes."""
    kept = [by_task([o for o in outcomes if o.infra is not True]) for outcomes in strata]
    dropped = Counter(o.termination for outcomes in strata for o in outcomes if o.infra is True)
    top = min((k_max(t, n) for t, n in zip(kept, declared, strict=True)), default=0)
    return {"dropped": sum(dropped.values()), "dropped_by_reason": dict(sorted(dropped.items())), "k_max": top,
            "pass_hat_k": _pass_rows(kept, top, shown, 0, 0, intervals=False)}


AGENT_SHOWN = ("messages", "repairs", "reprompts", "trimmed_turns", "trimmed_tokens", "context_retries", "retries",
               "think_calls", "vote_samples", "vote_disagreements")


def agent_section(outcomes: Sequence[Outcome]) -> dict[str, Any] | None:
    """What taustack's agent did, summed over the simulations that carry its counters (None for other agents)."""
    carrying = [o.agent_counters for o in outcomes if o.agent_counters is not None]
    if not carrying:
        return None
    totals = analytics.sum_counters(carrying)
    return {"simulations": len(carrying), "totals": totals,
            "per_simulation": {name: totals.get(name, 0) / len(carrying) for name in AGENT_SHOWN},
            "repairs_by_kind": {k.split(":", 1)[1]: v for k, v in totals.items() if k.startswith("repair:")},
            "simulations_with_repairs": sum(1 for c in carrying if c.get("repairs")),
            "simulations_with_reprompts": sum(1 for c in carrying if c.get("reprompts"))}


def cell_report(cell: Cell, system: System, draws: int, seed: int) -> dict[str, Any]:
    """One cell's numbers, tau2's first, then ours beside them."""
    tasks = by_task(cell.outcomes)
    top = k_max(tasks, cell.trials)
    shown = max(top, MIN_K_SHOWN)
    split = leaderboard.split_of(cell.domain, set(tasks), cell.split)
    missing = leaderboard.cell_missing(cell.domain, split, set(tasks), top, cell.implementation, cell.nl_assertions)
    agent_costs = [o.agent_cost for o in cell.outcomes if o.agent_cost is not None]
    per_task = [{"task_id": task, "trials": len(items), "successes": sum(o.success for o in items),
                 "pass_hat_k": [stats.pass_hat_k(len(items), sum(o.success for o in items), k)
                                if k <= len(items) else None for k in range(1, shown + 1)],
                 "flips": stats.flips([o.success for o in items]), "hash": cell.task_hashes.get(task)}
                for task, items in sorted(tasks.items(), key=lambda kv: task_key(kv[0]))]
    return {
        "system": system.label, "configuration": system.configuration.as_dict(),
        "agent_model": cell.agent_model, "implementation": cell.implementation,
        "domain": cell.domain, "mode": cell.mode, "user_model": cell.user_model,
        "nl_assertions": cell.nl_assertions, "split": split, "trials_declared": cell.trials, "k_max": top,
        "source": cell.source, "tau2_version": cell.tau2_version, "simulations": len(cell.outcomes),
        "tasks": len(tasks), "avg_reward": _mean([o.reward for o in cell.outcomes]),
        "avg_agent_cost": _mean(agent_costs), "pass_hat_k": _pass_rows([tasks], top, shown, draws, seed),
        "excluding_infra": _without_infra([cell.outcomes], [cell.trials], shown),
        "terminations": dict(sorted(Counter(o.termination for o in cell.outcomes).items())),
        "errors": {"infrastructure": sum(o.infra is True for o in cell.outcomes),
                   "unclassified": sum(o.infra is None for o in cell.outcomes)},
        "usage": _usage(cell.outcomes), "leaderboard": {"eligible": not missing, "missing": missing},
        "note": leaderboard.NL_NOTE if cell.nl_assertions else None, "per_task": per_task,
        "agent": agent_section(cell.outcomes),
    }


def _strata(system: System) -> tuple[list[str], list[list[Outcome]], list[int]]:
    """The system's domains, each one's outcomes (its cells together) and declared trial count; a domain whose
    cells were pooled as new trials declares none (its tasks' fewest trials decide k, as tau2's get_metrics_df)."""
    domains = sorted({c.domain for c in system.cells})
    members = [[c for c in system.cells if c.domain == d] for d in domains]
    outcomes = [[o for c in cells for o in c.outcomes] for cells in members]
    declared = [0 if system.pooled and len(cells) > 1 else min(c.trials for c in cells) for cells in members]
    return domains, outcomes, declared


def system_report(system: System, reports: Sequence[dict[str, Any]], draws: int, seed: int) -> dict[str, Any]:
    """A configuration's numbers across its cells, stratified by domain; each task once (pooled trials at most)."""
    domains, strata, declared = _strata(system)
    groups = [by_task(outcomes) for outcomes in strata]
    top = min(k_max(g, n) for g, n in zip(groups, declared, strict=True))
    shown = max(top, MIN_K_SHOWN)
    cells = system.cells
    missing = leaderboard.group_missing([r["leaderboard"]["missing"] for r in reports], [c.user_args for c in cells])
    outcomes = [o for c in cells for o in c.outcomes]
    return {"system": system.label, "configuration": system.configuration.as_dict(), "mode": system.configuration.mode,
            "domains": domains, "sources": [c.source for c in cells], "pooled": system.pooled,
            "tasks": sum(len(g) for g in groups), "simulations": len(outcomes), "k_max": top,
            "avg_reward": _mean([o.reward for o in outcomes]),
            "pass_hat_k": _pass_rows(groups, top, shown, draws, seed),
            "excluding_infra": _without_infra(strata, declared, shown),
            "leaderboard": {"eligible": not missing, "missing": missing}, "weighting": WEIGHTING}


def build_report(loaded: Loaded, draws: int = 2000, seed: int = 0, combine_overlapping: bool = False) -> dict[str, Any]:
    """The whole report as a JSON-ready dict (schema: eval/schemas/report.schema.json); EvalError when cells of one
    configuration overlap and may not be pooled."""
    grouped = sorted(systems(loaded.cells, combine_overlapping), key=lambda s: (s.label, s.configuration.mode))
    cells, rows = [], []
    for system in grouped:
        system.cells.sort(key=lambda c: (c.domain, c.source))
        reports = [cell_report(cell, system, draws, seed) for cell in system.cells]
        cells += reports
        rows.append(system_report(system, reports, draws, seed))
    return {
        "schema_version": SCHEMA_VERSION, "taustack_version": __version__,
        "bootstrap": {"draws": draws, "seed": seed, "level": stats.LEVEL, "method": "percentile, tasks resampled"},
        "sources": sorted({c.source for c in loaded.cells}), "warnings": list(loaded.warnings), "cells": cells,
        "systems": rows,
    }
