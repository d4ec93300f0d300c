"""Which cells make one system row of `eval report`: a configuration is the agent model, the agent implementation
with its config and args, the user model, the mode and the tau2 version. Cells of one configuration on disjoint
(domain, task) sets form one system; cells that overlap are pooled only when asked and only as new trials (trial
seeds that differ), otherwise refused: no task is ever counted twice in a row, an interval or a standard error."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from taustack.eval.outcomes import Cell, EvalError, task_key

TRANSPORT_ARGS = frozenset({"api_base", "base_url", "api_key", "num_retries", "timeout", "extra_headers"})
SHOWN_OVERLAP = 5  # task ids named in a refusal


@dataclass(frozen=True)
class Configuration:
    """What makes two cells the same system (transport args such as api_base left out)."""

    agent_model: str
    implementation: str
    agent_args: str  # canonical JSON
    agent_config: str | None  # sha256 of taustack's agent config in effect (run directories), else None
    user_model: str | None
    mode: str
    tau2_version: str | None

    @property
    def id(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, **asdict(self), "agent_args": json.loads(self.agent_args)}


def configuration_of(cell: Cell) -> Configuration:
    args = {k: v for k, v in cell.agent_args.items() if k not in TRANSPORT_ARGS}
    return Configuration(agent_model=cell.agent_model, implementation=cell.implementation,
                         agent_args=json.dumps(args, sort_keys=True, default=str), agent_config=cell.agent_config,
                         user_model=cell.user_model, mode=cell.mode, tau2_version=cell.tau2_version)


def _distinctions(config: Configuration) -> dict[str, str]:
    return {"agent_config": f"config {config.agent_config[:8]}" if config.agent_config else "default config",
            "agent_args": f"args {config.agent_args}", "user_model": f"user {config.user_model}",
            "tau2_version": f"tau2 {config.tau2_version or 'unknown'}"}


def labels(configs: Sequence[Configuration]) -> dict[Configuration, str]:
    """A row label per configuration: "model (implementation)", then whatever tells it from the others of that
    name (the mode has its own column)."""
    by_name: dict[str, list[Configuration]] = defaultdict(list)
    for config in configs:
        by_name[f"{config.agent_model} ({config.implementation})"].append(config)
    out = {}
    for name, group in by_name.items():
        parts = [_distinctions(c) for c in group]
        differing = [key for key in parts[0] if len({p[key] for p in parts}) > 1]
        for config, part in zip(group, parts, strict=True):
            out[config] = name + (f" with {'; '.join(part[key] for key in differing)}" if differing else "")
    return out


@dataclass
class System:
    """One configuration's cells, checked: disjoint tasks, or pooled as new trials when `pooled`."""

    configuration: Configuration
    label: str
    cells: list[Cell]
    pooled: bool


def _seeds(cell: Cell, task: str) -> list[int | None]:
    return [o.seed for o in cell.outcomes if o.task_id == task]


def _check_pool(label: str, domain: str, first: Cell, second: Cell, shared: list[str]) -> None:
    """Overlapping cells pool only as new draws: every simulation of a shared task has a seed, none repeated."""
    for task in shared:
        seeds_a, seeds_b = _seeds(first, task), _seeds(second, task)
        if None in seeds_a or None in seeds_b:
            raise EvalError(f"{label}: {first.source} and {second.source} both hold {domain} task {task} and one "
                            "records no trial seed: new draws cannot be told from repeats, so they are not pooled")
        repeated = sorted(set(seeds_a) & set(seeds_b), key=str)
        if repeated:
            raise EvalError(f"{label}: {first.source} and {second.source} repeat the same trials of {domain} task "
                            f"{task} (trial seed {repeated[0]}): not new draws, so they are not pooled")


def _overlaps(label: str, cells: list[Cell], pool: bool) -> bool:
    """True when some cells share tasks (and may be pooled); EvalError naming the overlap when they may not."""
    overlapping = False
    for index, first in enumerate(cells):
        for second in cells[index + 1:]:
            if first.domain != second.domain:
                continue
            shared = sorted({o.task_id for o in first.outcomes} & {o.task_id for o in second.outcomes}, key=task_key)
            if not shared:
                continue
            if not pool:
                named = ", ".join(shared[:SHOWN_OVERLAP]) + (f" (+{len(shared) - SHOWN_OVERLAP} more)"
                                                             if len(shared) > SHOWN_OVERLAP else "")
                raise EvalError(f"{label} ({first.mode}): {first.source} and {second.source} are one configuration "
                                f"and both hold {first.domain} tasks {named}: report them one at a time, or give "
                                "--combine-overlapping to pool them as more trials (their trial seeds must differ)")
            _check_pool(label, first.domain, first, second, shared)
            overlapping = True
    return overlapping


def systems(cells: Sequence[Cell], pool: bool = False) -> list[System]:
    """The cells grouped by configuration, in the order given; EvalError for overlaps that cannot be combined."""
    groups: dict[Configuration, list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[configuration_of(cell)].append(cell)
    names = labels(list(groups))
    return [System(config, names[config], members, _overlaps(names[config], members, pool))
            for config, members in groups.items()]
