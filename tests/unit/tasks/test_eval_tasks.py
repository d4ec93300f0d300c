"""`taustack eval run --tasks FILE`: a task file's tasks played by tau2 26.3 in solo mode against the fake vLLM
server (real orchestrator, mock environment and evaluator), recorded so that resume and reports find them again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from taustack.tasks.generator import generate
from taustack.tasks.taskfile import read_task_file, write_task_file
from tests.helpers import run_cli
from tests.unit.eval.test_run import KEY, fake_endpoint


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    yield from fake_endpoint(0)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def args(url: str, runs: Path, name: str, tasks: Path, *more: str) -> list[str]:
    return ["eval", "run", "--agent-model", "qwen", "--agent-url", url, "--agent-key-env", "EVAL_KEY",
            "--domain", "mock", "--mode", "no-user", "--tasks", str(tasks), "--trials", "1", "--max-steps", "6",
            "--name", name, "--runs-dir", str(runs), *more]


def test_a_task_file_s_tasks_are_played_and_recorded(endpoint: str, tmp_path: Path) -> None:
    from tau2.data_model.simulation import Results

    tasks = tmp_path / "heldout.json"
    write_task_file(tasks, generate("heldout", 5, 9))
    result = run_cli(*args(endpoint, tmp_path, "gen", tasks, "--num-tasks", "3"), env={"EVAL_KEY": KEY})
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "gen"
    cell = json.loads((run / "manifest.json").read_text())["cells"][0]
    expected = read_task_file(tasks)
    assert cell["task_ids"] == expected.ids()[:3] and cell["split"] is None
    assert (cell["tasks_file"], cell["tasks_file_sha256"]) == (str(tasks.resolve()), expected.sha256)
    results = Results.model_validate_json((run / "results" / "qwen__mock__no-user.json").read_text())
    assert [t.ticket for t in results.tasks] == [t["ticket"] for t in expected.tasks[:3]]
    assert sorted(s.task_id for s in results.simulations) == sorted(expected.ids()[:3])
    report = run_cli("eval", "report", str(run), "--json")
    assert report.returncode == 0, report.stderr


@pytest.mark.parametrize(("extra", "message"), [
    (["--split", "base"], "--tasks FILE has no splits: choose its tasks with --task-id or --num-tasks"),
    (["--domain", "airline"], "--tasks FILE holds one domain's tasks: give exactly one --domain"),
])
def test_a_task_file_with_a_split_or_two_domains_is_refused(endpoint: str, tmp_path: Path, extra: list[str],
                                                             message: str) -> None:
    tasks = tmp_path / "t.json"
    write_task_file(tasks, generate("heldout", 2, 9))
    result = run_cli(*args(endpoint, tmp_path, "bad", tasks, "--skip-preflight", *extra), env={"EVAL_KEY": KEY})
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == f"Error: {message}"
    assert not (tmp_path / "bad").exists()


def test_a_changed_task_file_stops_a_resume(endpoint: str, tmp_path: Path) -> None:
    tasks = tmp_path / "t.json"
    write_task_file(tasks, generate("heldout", 2, 9))
    assert run_cli(*args(endpoint, tmp_path, "r", tasks), env={"EVAL_KEY": KEY}).returncode == 0
    write_task_file(tasks, generate("heldout", 2, 10))
    journal = next((tmp_path / "r" / "journal").glob("*.jsonl"))
    journal.write_text("")  # everything to run again
    resumed = run_cli("eval", "run", "--resume", str(tmp_path / "r"), env={"EVAL_KEY": KEY})
    assert resumed.returncode == 1
    log = next((tmp_path / "r" / "logs").glob("*.log")).read_text()
    assert f"{tasks.resolve()} changed since this run started" in log
