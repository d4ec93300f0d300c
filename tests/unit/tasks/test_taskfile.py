"""Task files: one-line errors for bad files, registration with tau2 (its own Task model validates each task), and
tau2 loading the tasks by the registered name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taustack.tasks.generator import generate
from taustack.tasks.taskfile import TaskFileError, read_task_file, register, write_task_file


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read the task file"),
    ("{not json", "not JSON"),
    ('{"id": "x"}', "a task file is a non-empty JSON list of tau2 tasks"),
    ("[]", "a task file is a non-empty JSON list of tau2 tasks"),
    ('[{"ticket": "t"}]', "task 0 has no string id"),
    ('[{"id": "a"}, {"id": "a"}]', "task id 'a' appears twice"),
])
def test_a_bad_task_file_is_one_line_naming_it(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "tasks.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(TaskFileError) as caught:
        read_task_file(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_registered_tasks_load_through_tau2_by_the_file_s_task_set(tmp_path: Path) -> None:
    from taustack.eval import tau2_26_3 as tau2

    path = tmp_path / "heldout.json"
    write_task_file(path, generate("heldout", 12, 5))
    task_file = read_task_file(path)
    name = register(task_file)
    assert register(task_file) == name and name.startswith("taustack-file-")
    loaded = tau2.load_tasks("mock", None, None, None, "no-user", name)
    assert [t.id for t in loaded] == task_file.ids()
    assert [tau2.task_dict(t)["ticket"] for t in loaded] == [t["ticket"] for t in json.loads(path.read_text())]
    assert [t.id for t in tau2.load_tasks("mock", None, None, 3, "no-user", name)] == task_file.ids()[:3]
    assert len(tau2.load_tasks("mock", None, None, None, "no-user")) == 6, "the domain's own tasks are untouched"


def test_a_task_tau2_refuses_is_named(tmp_path: Path) -> None:
    tasks = generate("train", 2, 0)
    del tasks[1]["user_scenario"]
    path = tmp_path / "bad.json"
    write_task_file(path, tasks)
    with pytest.raises(TaskFileError) as caught:
        register(read_task_file(path))
    assert str(caught.value).startswith(f"{path}: task {tasks[1]['id']!r} is not a tau2 task (user_scenario: ")
