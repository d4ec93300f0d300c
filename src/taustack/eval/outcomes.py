"""What report and compare read: run directories (manifest + tau2 results + errors.jsonl) or plain tau2 results
files and folders (through dataset.results), as cells of per-simulation outcomes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taustack.agents.analytics import simulation_counters
from taustack.dataset.results import DatasetError, RunInfo, Source, find_sources, iter_simulations, read_run_info
from taustack.errors import TaustackError
from taustack.eval.taskhash import task_hash
from taustack.eval.trained import overlap_note
from taustack.fileio import iter_jsonl, read_json

SUCCESS_TOLERANCE = 1e-6  # tau2's is_successful: within 1e-6 of 1
UNCLASSIFIED_REASONS = frozenset({"agent_error", "user_error"})


class EvalError(TaustackError):
    """Bad input for `taustack eval` (nothing readable, an empty run directory, runs that cannot be paired)."""


@dataclass(frozen=True)
class Outcome:
    """One simulation: its score, how it ended, and what it cost. infra None = an error of unknown cause."""

    task_id: str
    trial: int
    reward: float
    success: bool
    termination: str
    infra: bool | None
    agent_cost: float | None = None
    user_cost: float | None = None
    duration: float | None = None
    tokens: int | None = None
    agent_counters: dict[str, int] | None = None  # taustack's agents: what they did (repairs, re-prompts, ...)
    seed: int | None = None  # the trial's seed as tau2 recorded it: two runs with the same one repeat the trial


@dataclass
class Cell:
    """One (system, domain, mode, user model) run of tasks x trials, from a run directory's cell or a file."""

    agent_model: str
    implementation: str
    domain: str
    mode: str
    user_model: str | None
    nl_assertions: bool
    split: str | None
    trials: int
    source: str
    agent_args: dict[str, Any] = field(default_factory=dict)
    user_args: dict[str, Any] | None = None
    task_hashes: dict[str, str] = field(default_factory=dict)
    tau2_version: str | None = None
    agent_config: str | None = None  # sha256 of taustack's agent config in effect (a run directory's manifest)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def system(self) -> str:
        return f"{self.agent_model} ({self.implementation})"


@dataclass
class Loaded:
    """Everything read: the cells, one-line warnings about what was skipped, and the run directories."""

    cells: list[Cell]
    warnings: list[str]
    run_dirs: list[Path]


def task_key(task_id: str) -> tuple[int, int, str]:
    """Sort order of task ids: numeric ids by number, then the others by name."""
    return (0, int(task_id), "") if task_id.isdigit() else (1, 0, task_id)


def mode_of(implementation: str) -> str:
    """no-user for solo agents, oracle-plan for ground-truth agents, else default (tau2's own name tests)."""
    return "no-user" if "solo" in implementation else "oracle-plan" if "gt" in implementation else "default"


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "manifest.json").is_file()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _tokens(messages: Any) -> int | None:
    total, seen = 0, False
    for message in messages if isinstance(messages, list) else []:
        usage = message.get("usage") if isinstance(message, dict) else None
        if isinstance(usage, dict):
            for key in ("prompt_tokens", "completion_tokens"):
                if isinstance(usage.get(key), int):
                    total, seen = total + usage[key], True
    return total if seen else None


def _agent_counters(simulation: dict[str, Any]) -> dict[str, int] | None:
    messages = simulation.get("messages")
    return simulation_counters(m for m in messages if isinstance(m, dict)) if isinstance(messages, list) else None


def outcome_of(simulation: dict[str, Any], kinds: dict[str, str] | None = None) -> Outcome:
    """A simulation's outcome; reward_info null (or no reward) is a failure with reward 0, never a crash."""
    info = simulation.get("reward_info")
    reward = _number(info.get("reward")) if isinstance(info, dict) else None
    reward = 0.0 if reward is None else reward
    termination = str(simulation.get("termination_reason") or "unknown")
    kind = (kinds or {}).get(str(simulation.get("id")))
    infra: bool | None = termination == "infrastructure_error" or kind == "infrastructure"
    if not infra and termination in UNCLASSIFIED_REASONS and kind is None:
        infra = None
    trial, seed = simulation.get("trial"), simulation.get("seed")
    return Outcome(task_id=str(simulation.get("task_id")), trial=trial if isinstance(trial, int) else 0,
                   reward=reward, success=abs(reward - 1.0) <= SUCCESS_TOLERANCE, termination=termination,
                   infra=infra, agent_cost=_number(simulation.get("agent_cost")),
                   user_cost=_number(simulation.get("user_cost")), duration=_number(simulation.get("duration")),
                   tokens=_tokens(simulation.get("messages")), agent_counters=_agent_counters(simulation),
                   seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None)


def _has_nl_assertions(simulation: dict[str, Any]) -> bool:
    """NL assertions counted in the reward (judged ones outside the reward basis do not change the score)."""
    info = simulation.get("reward_info")
    return isinstance(info, dict) and "NL_ASSERTION" in (info.get("reward_basis") or [])


def _file_cell(source: Source, run: RunInfo) -> Cell:
    info = run.info
    agent, user = info.get("agent_info") or {}, info.get("user_info") or {}
    trials = info.get("num_trials")
    cell = Cell(agent_model=run.agent_model, implementation=run.implementation, domain=run.domain,
                mode=mode_of(run.implementation), user_model=user.get("llm") if isinstance(user, dict) else None,
                nl_assertions=False, split=None, trials=trials if isinstance(trials, int) else 0,
                source=str(source.path), agent_args=dict(agent.get("llm_args") or {}),
                user_args=dict(user.get("llm_args") or {}) if isinstance(user, dict) else None,
                task_hashes={str(t.get("id")): task_hash(t) for t in run.tasks})
    for simulation in iter_simulations(source):
        cell.outcomes.append(outcome_of(simulation))
        cell.nl_assertions = cell.nl_assertions or _has_nl_assertions(simulation)
    return cell


def _load_files(path: Path, warnings: list[str]) -> list[Cell]:
    cells = []
    for source in find_sources([path]):
        try:
            cell = _file_cell(source, read_run_info(source))
        except DatasetError as exc:  # not tau2 results, or broken: named, and the others still reported
            warnings.append(f"skipped {exc}" if str(source.path) in str(exc) else f"skipped {source.path}: {exc}")
            continue
        if not cell.outcomes:
            warnings.append(f"skipped {source.path}: no simulations")
            continue
        cells.append(cell)
    return cells


def _error_kinds(run_dir: Path) -> dict[str, str]:
    path = run_dir / "errors.jsonl"
    if not path.is_file():
        return {}
    return {str(line.get("simulation_id")): str(line.get("kind")) for _, line in iter_jsonl(path, "errors", EvalError)
            if isinstance(line, dict)}


def _config_digest(entry: dict[str, Any]) -> str | None:
    """A manifest cell's agent config: sha256 of the config in effect (canonical JSON), else of the file given."""
    config = entry.get("agent_config")
    if isinstance(config, dict):
        return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    digest = entry.get("agent_config_sha256")
    return str(digest) if digest else None


def _model_name(model: Any) -> str | None:
    return str(model.get("name") or model.get("model")) if isinstance(model, dict) else None


def load_run_dir(run_dir: Path, warnings: list[str]) -> list[Cell]:
    """The cells of a run directory written by `taustack eval run`; EvalError when none has results."""
    manifest = read_json(run_dir / "manifest.json", "manifest", EvalError)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("cells"), list):
        raise EvalError(f"{run_dir / 'manifest.json'}: not a taustack eval manifest (no cells)")
    kinds = _error_kinds(run_dir)
    cells = []
    for entry in manifest["cells"]:
        path = run_dir / str(entry.get("results") or f"results/{entry.get('id')}.json")
        if not path.is_file():
            warnings.append(f"{run_dir}: cell {entry.get('id')} has no results yet ({path.name})")
            continue
        source = Source(path, "file", True)
        try:
            run = read_run_info(source)
            outcomes = [outcome_of(s, kinds) for s in iter_simulations(source)]
        except DatasetError as exc:
            warnings.append(f"skipped {exc}")
            continue
        if entry.get("trained_tasks"):
            warnings.append(overlap_note(str(entry.get("id")), len(entry["trained_tasks"]),
                                         len(entry.get("task_ids") or [])))
        user = entry.get("user_model")
        cells.append(Cell(
            agent_model=_model_name(entry.get("agent_model")) or run.agent_model,
            implementation=str(entry.get("agent") or run.implementation), domain=str(entry.get("domain") or run.domain),
            mode=str(entry.get("mode") or mode_of(run.implementation)), user_model=_model_name(user),
            nl_assertions=bool(entry.get("nl_assertions")), split=entry.get("split"),
            trials=int(entry.get("trials") or run.info.get("num_trials") or 0), source=str(path),
            agent_args=dict((entry.get("agent_model") or {}).get("args") or {}),
            user_args=dict(user.get("args") or {}) if isinstance(user, dict) else None,
            task_hashes=dict(entry.get("task_hashes") or {str(t.get("id")): task_hash(t) for t in run.tasks}),
            tau2_version=manifest.get("tau2_version"), agent_config=_config_digest(entry), outcomes=outcomes))
    if not any(cell.outcomes for cell in cells):
        raise EvalError(f"run directory {run_dir} has no results")
    return [cell for cell in cells if cell.outcomes]


def load(paths: list[Path]) -> Loaded:
    """Cells from run directories and results files/folders; EvalError when nothing at all is readable."""
    warnings: list[str] = []
    cells: list[Cell] = []
    run_dirs: list[Path] = []
    for path in paths:
        if is_run_dir(path):
            cells.extend(load_run_dir(path, warnings))
            run_dirs.append(path)
        elif path.exists():
            cells.extend(_load_files(path, warnings))
        else:
            raise EvalError(f"{path}: no such file or folder")
    if not cells:
        detail = f" ({warnings[0]})" if len(warnings) == 1 else ""
        raise EvalError(f"no tau2 results could be read from {', '.join(map(str, paths))}{detail}")
    unique = {Path(c.source).resolve(): c for c in reversed(cells)}  # a file named twice is read once
    return Loaded(cells=[c for c in cells if unique[Path(c.source).resolve()] is c], warnings=warnings,
                  run_dirs=run_dirs)
