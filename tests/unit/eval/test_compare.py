"""compare: paired counts checked by hand from the files, McNemar computed independently, and the refusals."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from taustack.eval.compare import compare
from taustack.eval.outcomes import EvalError, load
from tests.unit.eval.conftest import AIRLINE_A, AIRLINE_B, GPT_FILES, load_json, multi_trial


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
