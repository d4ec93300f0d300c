"""Oracle episodes: gold actions played through tau2 score 1.0, a gold plan tau2 cannot carry out is refused, and the
results file becomes SFT data whose examples are what tau2's solo agent sees and does (its own system prompt, and
`done` as a tool call, not tau2's ###STOP### text)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from taustack.tasks.generator import generate, kind_of
from taustack.tasks.taskfile import read_task_file, write_task_file
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def oracle_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("oracle")
    write_task_file(folder / "train.json", generate("train", 30, 2))
    result = run_cli("tasks", "oracle", str(folder / "train.json"), "--out", str(folder / "oracle.json"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "30 oracle episodes, every one scored 1.0 by tau2" in result.stderr
    return folder / "train.json", folder / "oracle.json"


def test_oracle_episodes_are_a_tau2_results_file_of_solved_tasks(oracle_results: tuple[Path, Path]) -> None:
    from tau2.data_model.simulation import Results

    tasks_path, results_path = oracle_results
    results = Results.model_validate_json(results_path.read_text())
    assert results.info.agent_info.implementation == "taustack_oracle_solo"
    assert [s.task_id for s in results.simulations] == read_task_file(tasks_path).ids()
    assert all(s.reward_info.reward == 1.0 for s in results.simulations)


def test_a_gold_action_tau2_cannot_carry_out_is_refused(tmp_path: Path) -> None:
    tasks = copy.deepcopy([t for t in generate("train", 20, 0) if kind_of(t) == "update"][:2])
    tasks[1]["evaluation_criteria"]["actions"][0]["arguments"]["task_id"] = "task_99999"
    write_task_file(tmp_path / "bad.json", tasks)
    result = run_cli("tasks", "oracle", str(tmp_path / "bad.json"), "--out", str(tmp_path / "o.json"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"Error: 1 of 2 oracle episodes did not score 1.0 (first: {tasks[1]['id']}: a gold action failed in tau2: "
        f"Error: Task task_99999 not found)")


def test_sft_examples_are_what_tau2_s_solo_agent_sees_and_does(oracle_results: tuple[Path, Path],
                                                                tmp_path: Path) -> None:
    from taustack.tasks.taskfile import register
    from taustack.trainer.tau2_episode import system_prompts

    tasks_path, results_path = oracle_results
    out = tmp_path / "data"
    made = run_cli("dataset", "make", "--results", str(results_path), "--name", "oracle", "--out", str(out),
                   "--split", "random", "--test-fraction", "0.2")
    assert made.returncode == 0, made.stderr
    assert run_cli("dataset", "to-openai", "oracle", "--out", str(out)).returncode == 0
    lines = {name: (out / name).read_text().splitlines() for name in ("train.jsonl", "test.jsonl")}
    provenance = [json.loads(line) for line in (out / "openai_provenance.jsonl").read_text().splitlines()]
    records = [json.loads(lines[p["file"]][p["line"] - 1]) for p in provenance]
    ids = [p["task_id"] for p in provenance]
    prompts = dict(zip(ids, system_prompts("mock", ids, True, register(read_task_file(tasks_path))), strict=True))
    assert len(records) == 30
    for record, origin in zip(records, provenance, strict=True):
        assert record["messages"][0]["content"] == prompts[origin["task_id"]], "tau2's own solo prompt"
        last = record["messages"][-1]
        assert last["content"] is None and [c["function"]["name"] for c in last["tool_calls"]] == ["done"]
        assert all(m.get("content") != "###STOP###" for m in record["messages"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["repairs"]["solo_stop_text_as_done_call"] == 30
