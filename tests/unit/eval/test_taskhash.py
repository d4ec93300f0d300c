"""task_hash: a recorded task and tau2's own copy of it hash the same; a changed one does not."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from taustack.eval.taskhash import canonical_task, task_hash

DATA = Path(__file__).resolve().parents[2] / "data" / "tau2-results"


def _tau2_tasks(domain: str) -> dict[str, dict]:
    tau2 = pytest.importorskip("tau2")
    path = Path(tau2.__file__).parent / "data" / "tau2" / "domains" / domain / "tasks.json"
    if not path.is_file():
        pytest.skip(f"tau2 has no {path}")
    return {str(t["id"]): t for t in json.loads(path.read_text(encoding="utf-8"))}


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.name)
def test_recorded_tasks_hash_like_tau2s_own(path: Path) -> None:
    results = json.loads(path.read_text(encoding="utf-8"))
    own = _tau2_tasks(results["info"]["environment_info"]["domain_name"])
    pairs = [(t, own[str(t["id"])]) for t in results["tasks"] if str(t["id"]) in own]
    assert len(pairs) >= 0.9 * len(results["tasks"])
    differ = [t["id"] for t, o in pairs if task_hash(t) != task_hash(o)]
    assert differ == []


def test_a_changed_instruction_hashes_differently() -> None:
    task = json.loads((DATA / "gpt-4.1_airline_default_1trial.json").read_text(encoding="utf-8"))["tasks"][0]
    changed = copy.deepcopy(task)
    instructions = changed["user_scenario"]["instructions"]
    instructions["task_instructions"] = instructions["task_instructions"] + " Also ask for a refund."
    assert task_hash(changed) != task_hash(task)


def test_defaults_nulls_and_numbers_do_not_change_the_hash() -> None:
    task = {"id": "1", "user_scenario": {"instructions": "hi", "persona": None},
            "evaluation_criteria": {"actions": [{"action_id": "a", "name": "f", "arguments": {"x": 1.0}}],
                                    "nl_assertions": []}, "annotations": {"any": "thing"}}
    spelled = {"id": "1", "user_scenario": {"instructions": "hi"}, "ticket": None,
               "evaluation_criteria": {"reward_basis": ["DB", "COMMUNICATE"],
                                       "actions": [{"arguments": {"x": 1}, "name": "f", "action_id": "a",
                                                    "requestor": "assistant"}]}}
    assert task_hash(task) == task_hash(spelled)
    assert canonical_task(task)["evaluation_criteria"]["actions"][0]["arguments"] == {"x": 1}
    assert task_hash({**spelled, "evaluation_criteria": {"reward_basis": ["DB"]}}) != task_hash(spelled)
