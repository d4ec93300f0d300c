"""The request's own checks, and the split a model taustack trained is evaluated on by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taustack.errors import TaustackError
from taustack.eval.endpoints import ModelChoice
from taustack.eval.plan import RunRequest, default_split


def request(**changes: object) -> RunRequest:
    base = RunRequest(name="r", agent_models=[ModelChoice("agent", "m")], user_model=ModelChoice("user", "u"),
                      judge_model=None, domains=["airline"])
    for key, value in changes.items():
        setattr(base, key, value)
    return base


@pytest.mark.parametrize(("changes", "message"), [
    ({"name": "../up"}, "--name '../up': letters, digits"),
    ({"modes": ["solo"]}, "--mode solo: unknown (one of default, no-user, oracle-plan)"),
    ({"user_model": None}, "--user-model is needed"),
    ({"nl_assertions": True}, "--nl-assertions needs --judge-model"),
    ({"task_ids": ["1"], "split": "test"}, "--task-id chooses the tasks"),
    ({"trials": 0}, "--trials 0: must be at least 1"),
])
def test_request_checks(changes: dict[str, object], message: str) -> None:
    with pytest.raises(TaustackError) as caught:
        request(**changes).check()
    assert str(caught.value).startswith(message)


def test_no_user_mode_alone_needs_no_user_model() -> None:
    request(user_model=None, modes=["no-user"]).check()


def trained_model(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "20261201-sft"
    (run / "export").mkdir(parents=True)
    (run / "export" / "model.gguf").write_bytes(b"GGUF")
    dataset = tmp_path / "datasets" / "airline-sft"
    dataset.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"id": run.name, "dataset": str(dataset)}))
    lines = [{"file": "train.jsonl", "domain": "airline", "task_id": "3"},
             {"file": "test.jsonl", "domain": "airline", "task_id": "7"},
             {"file": "train.jsonl", "domain": "retail", "task_id": "0"}]
    (dataset / "openai_provenance.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return run / "export" / "model.gguf"


def test_a_model_taustack_trained_is_evaluated_on_the_test_split_by_default(tmp_path: Path) -> None:
    model = trained_model(tmp_path)
    split, note = default_split(request(), "airline", model)
    assert split == "test" and note is not None and "trained by taustack on 1 of this domain's tasks" in note
    assert default_split(request(), "telecom", model) == ("base", None)
    assert default_split(request(), "airline", None) == ("base", None)
    split, note = default_split(request(split="base"), "airline", model)
    assert split == "base" and note is not None and "may include them" in note


def test_a_grpo_runs_tau2_tasks_count_as_trained_on(tmp_path: Path) -> None:
    """A GRPO run's run.json names its tasks; telecom-workflow shares telecom's tasks; the cell's overlap note."""
    from taustack.eval.trained import overlap_note, training_tasks

    run = tmp_path / "runs" / "20261203-grpo"
    (run / "export").mkdir(parents=True)
    (run / "export" / "model.gguf").write_bytes(b"GGUF")
    (run / "run.json").write_text(json.dumps({"id": run.name, "kind": "grpo", "environment": {
        "domain": "telecom", "split": "test", "task_ids": ["t1", "t2"], "on_evaluation_tasks": True}}))
    model = run / "export" / "model.gguf"
    assert training_tasks(model, "telecom") == {"t1", "t2"} == training_tasks(model, "telecom-workflow")
    assert training_tasks(model, "airline") == set()
    split, note = default_split(request(domains=["telecom"]), "telecom", model)
    assert split == "test" and note is not None and "2 of this domain's tasks" in note
    assert overlap_note("m__telecom__no-user", 2, 40) == (
        "m__telecom__no-user: 2 of its 40 tasks were trained on by the agent model (its taustack training run): "
        "their scores are not held-out")
