"""Would these cells count on the tau2-bench leaderboard? Its rules (upstream docs/leaderboard-submission.md): all
tasks of the base split, at least 4 trials, a stock agent, the same agent and user args across domains, and no
NL-assertion grading (26.3 does not grade them; upstream runs that do are scored differently)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from taustack.dataset.catalog import Catalogs
from taustack.errors import TaustackError
from taustack.fileio import read_json

STOCK_AGENTS = frozenset({"llm_agent", "llm_agent_solo"})
MIN_TRIALS = 4
NL_NOTE = "NL assertions graded: not comparable with the leaderboard"


class _CatalogError(TaustackError):
    """A shipped catalog that cannot be read."""


@functools.lru_cache(maxsize=32)
def _catalog(domain: str) -> Any:
    path = Catalogs().path_of(domain)
    return read_json(path, "catalog", _CatalogError) if path else None


def base_tasks(domain: str) -> set[str] | None:
    """The domain's base split from the shipped catalog (base, else train+test, else every task); None unknown."""
    return _base_from(_catalog(domain))


def _base_from(data: Any) -> set[str] | None:
    if not isinstance(data, dict):
        return None
    splits = data.get("task_splits") or {}
    for name in ("base", "train+test"):
        if splits.get(name):
            return {str(t) for t in splits[name]}
    return {str(t) for t in data["task_ids"]} if data.get("task_ids") else None


def split_of(domain: str, task_ids: set[str], declared: str | None) -> str | None:
    """The split the cell ran: as declared (a run directory), else inferred from the catalog's splits."""
    if declared is not None:
        return declared
    data = _catalog(domain)
    base = _base_from(data)
    if base is not None and task_ids >= base:
        return "base"
    splits = (data or {}).get("task_splits") or {}
    return next((name for name in ("test", "train") if set(map(str, splits.get(name) or [])) == task_ids), None)


def cell_missing(domain: str, split: str | None, task_ids: set[str], k_max: int, implementation: str,
                 nl_assertions: bool) -> list[str]:
    """What keeps one cell off the leaderboard ([] when nothing does)."""
    missing = []
    base = base_tasks(domain)
    if base is None:
        missing.append(f"no base split known for {domain}")
    elif split != "base" or not task_ids >= base:
        missing.append(f"{domain}: {len(task_ids & base)} of the {len(base)} base tasks")
    if k_max < MIN_TRIALS:
        missing.append(f"{domain}: {k_max} trial{'s' if k_max != 1 else ''} per task (needs {MIN_TRIALS})")
    if implementation not in STOCK_AGENTS:
        missing.append(f"agent {implementation} is not stock ({', '.join(sorted(STOCK_AGENTS))})")
    if nl_assertions:
        missing.append(NL_NOTE)
    return missing


def group_missing(cell_reasons: Sequence[list[str]], user_args: Sequence[dict[str, Any] | None]) -> list[str]:
    """A system's reasons: its cells' (each once) and user args that differ between domains (the agent's args are
    part of the configuration, so one system has one set)."""
    missing: list[str] = []
    for reasons in cell_reasons:
        missing.extend(r for r in reasons if r not in missing)
    if any(args != user_args[0] for args in user_args):
        missing.append("user args differ between domains")
    return missing
