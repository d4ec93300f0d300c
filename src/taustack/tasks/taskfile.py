"""Task files: tau2 tasks in tau2's own format (a JSON list, as tau2's tasks.json), made known to tau2 at run time.

One mechanism serves every place generated tasks enter tau2: the generator's oracle check, `taustack eval run
--tasks FILE` and GRPO's `environment.tasks`. The file is registered in tau2's registry as a task set of its own
(named from its content hash), never by editing tau2's installed data; the domain's environment stays tau2's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taustack.errors import TaustackError
from taustack.fileio import write_atomic

TASK_SET_PREFIX = "taustack-file"


class TaskFileError(TaustackError):
    """A task file that is missing, not JSON, or not a list of tau2 tasks: one line naming it."""


@dataclass(frozen=True)
class TaskFile:
    """A read task file: its path, its tasks (tau2 task dicts) and the sha256 of its bytes."""

    path: Path
    tasks: list[dict[str, Any]]
    sha256: str

    @property
    def task_set(self) -> str:
        """The name the file's tasks are registered under in tau2's registry."""
        return f"{TASK_SET_PREFIX}-{self.sha256[:16]}"

    def ids(self) -> list[str]:
        return [str(task["id"]) for task in self.tasks]

    def without_ticket(self) -> list[str]:
        """The tasks solo mode cannot play (tau2's LLMSoloAgent needs a ticket)."""
        return [str(task["id"]) for task in self.tasks if not task.get("ticket")]


def read_task_file(path: Path) -> TaskFile:
    """Read and check the shape of a task file (tau2 validates each task when the file is registered)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaskFileError(f"{path}: cannot read the task file ({exc.strerror or exc})") from None
    try:
        tasks = json.loads(raw)
    except ValueError as exc:
        raise TaskFileError(f"{path}: not JSON ({exc})") from None
    if not isinstance(tasks, list) or not tasks:
        raise TaskFileError(f"{path}: a task file is a non-empty JSON list of tau2 tasks (as tau2's tasks.json)")
    seen: set[str] = set()
    for index, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("id"), str) or not task["id"]:
            raise TaskFileError(f"{path}: task {index} has no string id")
        if task["id"] in seen:
            raise TaskFileError(f"{path}: task id {task['id']!r} appears twice")
        seen.add(task["id"])
    return TaskFile(path, tasks, hashlib.sha256(raw).hexdigest())


def write_task_file(path: Path, tasks: list[dict[str, Any]]) -> None:
    """Write tasks as a task file (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(tasks, indent=1) + "\n")


def register(task_file: TaskFile) -> str:
    """Register the file's tasks with tau2's registry (once per process) and return the task set's name.

    Every task is validated by tau2's own Task model; a task tau2 refuses is one line naming it."""
    from pydantic import ValidationError
    from tau2.data_model.tasks import Task
    from tau2.registry import registry

    name = task_file.task_set
    if name in registry.get_task_sets():
        return name
    tasks = []
    for raw in task_file.tasks:
        try:
            tasks.append(Task.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise TaskFileError(f"{task_file.path}: task {raw.get('id')!r} is not a tau2 task ({where}: "
                                f"{first['msg']})") from None

    def load(task_split_name: str | None = None) -> list[Any]:
        if task_split_name not in (None, "base"):
            raise ValueError(f"task file {task_file.path} has no split {task_split_name!r}")
        return [task.model_copy(deep=True) for task in tasks]

    registry.register_tasks(load, name)
    return name
