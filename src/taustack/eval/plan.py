"""`eval run`'s request -> the grid of cells (agent model x domain x mode), each with its tasks, seeds and hashes.

Cheap checks (names, combinations) come before tau2 is imported; tasks come from tau2 itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from taustack.errors import TaustackError
from taustack.eval.endpoints import Endpoint, ModelChoice
from taustack.eval.manifest import Cell, ModelRecord
from taustack.eval.trained import overlap_note, training_tasks

DOMAINS = ("airline", "retail", "telecom", "telecom-workflow", "mock")
MODES = ("default", "no-user", "oracle-plan")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class RunRequest:
    """Everything `taustack eval run` was asked, before anything is resolved."""

    name: str
    agent_models: list[ModelChoice]
    user_model: ModelChoice | None
    judge_model: ModelChoice | None
    domains: list[str]
    modes: list[str] = field(default_factory=lambda: ["default"])
    agent: str = "llm_agent"
    split: str | None = None
    task_ids: list[str] = field(default_factory=list)
    num_tasks: int | None = None
    trials: int = 4
    seed: int = 300
    max_steps: int = 200
    max_errors: int = 10
    concurrency: int = 3
    max_retries: int = 3
    nl_assertions: bool = False
    agent_config: Path | None = None
    tasks_file: Path | None = None  # a task file (tau2 tasks JSON) in place of the domain's own tasks

    def check(self) -> None:
        """What is wrong with the request itself, as one line."""
        if not NAME.match(self.name):
            raise TaustackError(f"--name {self.name!r}: letters, digits, '.', '_' and '-' only")
        for domain in self.domains:
            if domain not in DOMAINS:
                raise TaustackError(f"--domain {domain}: unknown (one of {', '.join(DOMAINS)})")
        for mode in self.modes:
            if mode not in MODES:
                raise TaustackError(f"--mode {mode}: unknown (one of {', '.join(MODES)})")
        if any(mode != "no-user" for mode in self.modes) and self.user_model is None:
            raise TaustackError("--user-model is needed (the user simulator), except with --mode no-user alone")
        if self.nl_assertions and self.judge_model is None:
            raise TaustackError("--nl-assertions needs --judge-model (the model that grades the assertions)")
        if self.task_ids and (self.split is not None or self.num_tasks is not None):
            raise TaustackError("--task-id chooses the tasks: give it without --split and --num-tasks")
        if self.tasks_file is not None:
            if self.split is not None:
                raise TaustackError("--tasks FILE has no splits: choose its tasks with --task-id or --num-tasks")
            if len(self.domains) != 1:
                raise TaustackError("--tasks FILE holds one domain's tasks: give exactly one --domain")
            from taustack.tasks.taskfile import read_task_file

            read_task_file(self.tasks_file)  # a bad file is refused before anything is written
        if self.agent_config is not None and not self.agent.startswith("llm_agent_v2"):
            raise TaustackError(f"--agent-config configures taustack's llm_agent_v2, not --agent {self.agent}")
        if self.agent_config is not None:
            from taustack.agents.config import load_config
            from taustack.agents.tokens import counter_for

            config = load_config(self.agent_config)  # a bad config is refused before anything is written
            if config.context.enabled:
                counter_for(config.context)  # and so is a tokenizer folder that cannot be read
        for value, flag in ((self.trials, "--trials"), (self.max_steps, "--max-steps"),
                            (self.max_errors, "--max-errors"), (self.concurrency, "--concurrency")):
            if value < 1:
                raise TaustackError(f"{flag} {value}: must be at least 1")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def record(endpoint: Endpoint | None, key_env: str | None, key_source: str | None) -> ModelRecord | None:
    if endpoint is None:
        return None
    return ModelRecord(**endpoint.record(), key_env=key_env, key_source=key_source)


def default_split(request: RunRequest, domain: str, model_file: Path | None) -> tuple[str | None, str | None]:
    """(split, note): base, unless the agent model was trained by taustack on tasks of this domain: then test."""
    if request.task_ids or request.tasks_file is not None:
        return None, None
    if request.split is not None:
        trained = training_tasks(model_file, domain) if model_file else set()
        note = (f"{domain}: the agent model was trained on {len(trained)} of this domain's tasks; the "
                f"{request.split} split may include them") if trained and request.split != "test" else None
        return request.split, note
    trained = training_tasks(model_file, domain) if model_file else set()
    if trained:
        return "test", (f"{domain}: split test by default: the agent model was trained by taustack on "
                        f"{len(trained)} of this domain's tasks")
    return "base", None


def plan_cells(request: RunRequest, agents: list[tuple[Endpoint, ModelRecord, Path | None]],
               user: ModelRecord | None, judge: ModelRecord | None) -> tuple[list[Cell], list[str]]:
    """The grid, tasks loaded from tau2 (names and combinations it refuses become one-line errors)."""
    from taustack.eval import tau2_26_3 as tau2
    from taustack.eval.taskhash import task_hash

    task_file, task_set = None, None
    if request.tasks_file is not None:
        from taustack.tasks.taskfile import read_task_file, register

        task_file = read_task_file(request.tasks_file)
        task_set = register(task_file)
    known = tau2.agent_names()
    if request.agent not in known:
        raise TaustackError(f"--agent {request.agent}: not an agent registered with tau2 ({', '.join(known)})")
    for mode in request.modes:
        variant = tau2.agent_and_user(mode, request.agent)[0]
        if variant not in known:
            raise TaustackError(f"--agent {request.agent} --mode {mode}: tau2 has no {variant} agent for that mode")
    cells: list[Cell] = []
    notes: list[str] = []
    for endpoint, agent_record, model_file in agents:
        for domain in request.domains:
            split, note = default_split(request, domain, model_file)
            if note:
                notes.append(note)
            for mode in request.modes:
                tau2_agent, tau2_user = tau2.agent_and_user(mode, request.agent)
                try:
                    tasks = tau2.load_tasks(domain, split, request.task_ids or None, request.num_tasks, mode,
                                            task_set)
                except ValueError as exc:
                    raise TaustackError(f"--domain {domain}: {exc}") from None
                if not tasks:
                    why = "no task of it has a ticket" if mode == "no-user" else "no task qualifies"
                    raise TaustackError(f"--mode {mode} --domain {domain}: {why}")
                cell_id = f"{slug(endpoint.name)}__{domain}__{mode}"
                seen = sorted(training_tasks(model_file, domain) & {t.id for t in tasks}) if model_file else []
                if seen:
                    notes.append(overlap_note(cell_id, len(seen), len(tasks)))
                cells.append(Cell(
                    id=cell_id, domain=domain, mode=mode, agent=request.agent, tau2_agent=tau2_agent,
                    tau2_user=tau2_user, agent_model=agent_record, user_model=None if mode == "no-user" else user,
                    judge_model=judge, nl_assertions=request.nl_assertions, split=split,
                    task_ids=[t.id for t in tasks], trials=request.trials, seed=request.seed,
                    trial_seeds=tau2.trial_seeds(request.seed, request.trials), max_steps=request.max_steps,
                    max_errors=request.max_errors, concurrency=request.concurrency, max_retries=request.max_retries,
                    results=f"results/{cell_id}.json",
                    task_hashes={t.id: task_hash(tau2.task_dict(t)) for t in tasks}, trained_tasks=seen,
                    tasks_file=str(task_file.path.resolve()) if task_file else None,
                    tasks_file_sha256=task_file.sha256 if task_file else None))
    ids = [cell.id for cell in cells]
    if len(set(ids)) != len(ids):
        raise TaustackError("two --agent-model values make the same cell name: give distinct model names")
    return cells, notes
