"""compare: paired counts checked by hand from the files, McNemar computed independently, and the refusals."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from taustack.eval.compare import compare
from taustack.eval.outcomes import EvalError, load
from tests.unit.eval.conftest import AIRLINE_A, AIRLINE_B, GPT_FILES, load_json, make_run_dir, multi_trial


def _success_by_task(path: Path) -> dict[str, bool]:
    return {s["task_id"]: abs((s["reward_info"] or {}).get("reward", 0) - 1) <= 1e-6
            for s in load_json(path)["simulations"]}


def test_airline_gpt41_against_qwen_by_hand() -> None:
    a, b = _success_by_task(AIRLINE_A), _success_by_task(AIRLINE_B)
    common = set(a) & set(b)
    gained = sum(1 for t in common if b[t] and not a[t])
    lost = sum(1 for t in common if a[t] and not b[t])
    n = gained + lost
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2**n)
    result = compare(load([AIRLINE_A]), load([AIRLINE_B]))
    (row,) = result["rows"]
    assert len(common) == 20 and row["tasks"] == 20
    assert (row["gained"], row["lost"]) == (gained, lost)
    assert row["successes_a"] == sum(a[t] for t in common) and row["successes_b"] == sum(b[t] for t in common)
    assert row["diff"] == pytest.approx((row["successes_b"] - row["successes_a"]) / 20)
    assert row["p_value"] == pytest.approx(p) and row["test"] == "exact McNemar"
    assert row["ci_low"] < row["diff"] < row["ci_high"] and row["mde"] > 0
    assert row["only_a"] == [] and len(row["only_b"]) == 30
    assert result["overall"]["diff"] == row["diff"]
    assert any("user model" in d for d in result["differences"])


def test_multi_trial_uses_the_sign_flip_test(tmp_path: Path) -> None:
    four = multi_trial(AIRLINE_A, 4, tmp_path / "four.json")
    (row,) = compare(load([AIRLINE_A]), load([four]))["rows"]
    assert row["test"] == "sign-flip permutation" and 0 < row["p_value"] <= 1


def test_refusals(tmp_path: Path) -> None:
    retail = next(p for p in GPT_FILES if "retail" in p.name)
    with pytest.raises(EvalError, match="different domains or modes"):
        compare(load([AIRLINE_A]), load([retail]))
    data = load_json(AIRLINE_B)
    common = {s["task_id"] for s in load_json(AIRLINE_A)["simulations"]}
    disjoint = copy.deepcopy(data)
    disjoint["simulations"] = [s for s in data["simulations"] if s["task_id"] not in common]
    (tmp_path / "disjoint.json").write_text(json.dumps(disjoint), encoding="utf-8")
    with pytest.raises(EvalError, match="no task in common"):
        compare(load([AIRLINE_A]), load([tmp_path / "disjoint.json"]))
    changed = copy.deepcopy(data)
    task = next(t for t in changed["tasks"] if t["id"] in common)
    task["user_scenario"]["instructions"]["task_instructions"] += " Then ask for a refund."
    (tmp_path / "changed.json").write_text(json.dumps(changed), encoding="utf-8")
    with pytest.raises(EvalError, match=f"task {task['id']} of airline/default differs"):
        compare(load([AIRLINE_A]), load([tmp_path / "changed.json"]))


def _outage(path: Path, out: Path, died: int) -> tuple[Path, list[dict[str, object]]]:
    """`path` with its first `died` successes lost to the endpoint: what `eval run` records for a simulation that
    raised (agent_error, reward 0, no messages) and its errors.jsonl line (kind infrastructure)."""
    data = load_json(path)
    errors: list[dict[str, object]] = []
    for simulation in data["simulations"]:
        if len(errors) < died and simulation["reward_info"]["reward"] == 1.0:
            simulation.update(termination_reason="agent_error", reward_info={"reward": 0.0}, messages=[])
            errors.append({"cell": "cell0", "simulation_id": simulation["id"], "task_id": simulation["task_id"],
                           "trial": 0, "kind": "infrastructure", "cause": "InternalServerError: 503"})
    out.write_text(json.dumps(data), encoding="utf-8")
    return out, errors


def test_an_outage_is_not_a_regression(tmp_path: Path) -> None:
    # same model behaviour on both sides; 8 of B's 10 successes died of a 5xx (errors.jsonl: infrastructure)
    changed, errors = _outage(AIRLINE_A, tmp_path / "outage.json", 8)
    a = make_run_dir(tmp_path / "a", [AIRLINE_A])
    b = make_run_dir(tmp_path / "b", [changed], errors)
    result = compare(load([a]), load([b]))
    overall = result["overall"]
    assert result["tested"] == "excluding_infra" and overall["tested"] == "excluding_infra"
    assert (overall["tasks"], overall["gained"], overall["lost"], overall["diff"]) == (12, 0, 0, 0.0)
    assert overall["p_value"] == 1.0 and overall["left_out"] == 8
    assert (overall["infra_tasks_a"], overall["infra_tasks_b"], overall["infra_tasks_both"]) == (0, 8, 0)
    assert overall["counting_infra"] == {"tasks": 20, "pass1_a": 0.5, "pass1_b": 0.1, "diff": pytest.approx(-0.4)}
    assert overall["excluding_infra"] == {"tasks": 12, "pass1_a": 2 / 12, "pass1_b": 2 / 12, "diff": 0.0}
    assert any("0 tasks on A, 8 on B" in w for w in result["warnings"])
    assert sum(not t["tested"] for t in result["per_task"]) == 8
    # tau2's figure, on request: the outage counts as 8 lost tasks
    counted = compare(load([a]), load([b]), count_infra_as_failure=True)["overall"]
    assert counted["tested"] == "counting_infra" and counted["tasks"] == 20 and counted["lost"] == 8
    assert counted["p_value"] == pytest.approx(2 / 2**8) and counted["diff"] == pytest.approx(-0.4)


def test_infra_errors_on_both_sides_are_counted_per_side(tmp_path: Path) -> None:
    # upstream tau2's own infrastructure_error (no errors.jsonl) on A, errors.jsonl on B, one task on both
    data = load_json(AIRLINE_A)
    wins = [s for s in data["simulations"] if s["reward_info"]["reward"] == 1.0]
    for simulation in wins[:2]:
        simulation.update(termination_reason="infrastructure_error", reward_info={"reward": 0.0})
    (tmp_path / "a.json").write_text(json.dumps(data), encoding="utf-8")
    changed, errors = _outage(AIRLINE_A, tmp_path / "b.json", 3)
    result = compare(load([tmp_path / "a.json"]), load([make_run_dir(tmp_path / "b", [changed], errors)]))
    (row,) = result["rows"]
    assert (row["infra_tasks_a"], row["infra_tasks_b"], row["infra_tasks_both"], row["left_out"]) == (2, 3, 2, 3)
    assert row["tasks"] == 17 and row["lost"] == 0 and row["gained"] == 0


def test_unclassified_errors_are_paired_as_failures(tmp_path: Path) -> None:
    # a plain tau2 file's agent_error says nothing about its cause: scored as tau2 scores it, and said so
    changed, errors = _outage(AIRLINE_A, tmp_path / "b.json", 3)
    result = compare(load([AIRLINE_A]), load([changed]))
    overall = result["overall"]
    assert overall["tasks"] == 20 and overall["lost"] == 3 and overall["left_out"] == 0
    assert (overall["unclassified_a"], overall["unclassified_b"]) == (0, 3)
    assert any(w.startswith("B: 3 simulations ended in an error no errors.jsonl") for w in result["warnings"])
    # the same errors in a run directory classified as the model's own ("model") are failures, not unclassified
    model = [{**e, "kind": "model"} for e in errors]
    result = compare(load([AIRLINE_A]), load([make_run_dir(tmp_path / "m", [changed], model)]))
    assert result["overall"]["lost"] == 3 and result["overall"]["unclassified_b"] == 0
    assert not any("classifies" in w for w in result["warnings"])


def test_nothing_both_could_score_is_refused(tmp_path: Path) -> None:
    data = load_json(AIRLINE_A)
    for simulation in data["simulations"]:
        simulation.update(termination_reason="infrastructure_error", reward_info={"reward": 0.0})
    (tmp_path / "down.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(EvalError, match="every one of the 20 common tasks has an infrastructure error"):
        compare(load([AIRLINE_A]), load([tmp_path / "down.json"]))
    assert compare(load([AIRLINE_A]), load([tmp_path / "down.json"]), count_infra_as_failure=True)["overall"][
        "lost"] == 10


def test_a_run_compared_with_itself_has_a_stated_nonzero_mde(tmp_path: Path) -> None:
    # no task differs: the old observed-variance MDE printed 0.0 ("any difference would be detectable")
    from taustack.eval.compare import compare_markdown

    result = compare(load([AIRLINE_A]), load([AIRLINE_A]))
    overall = result["overall"]
    assert overall["diff"] == 0 and overall["gained"] == overall["lost"] == 0
    assert overall["mde_basis"] == "floor: independent at the observed rates"
    assert overall["mde_variance"] == pytest.approx(2 * 0.5 * 0.5)  # 10 of 20 on each side
    assert overall["mde"] == pytest.approx(2.8016 * math.sqrt(0.5 / 20), abs=1e-4)
    assert "MDE variance assumed: airline/default s2 0.500 (floor" in compare_markdown(result)
    observed = compare(load([AIRLINE_A]), load([AIRLINE_B]))["overall"]
    assert observed["mde_basis"] == "observed" and observed["mde_variance"] > 0
