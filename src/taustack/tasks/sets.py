"""A train and a held-out task file from one seed, with the checks that keep them apart (and apart from tau2's own
mock tasks): no held-out ticket, title or ticket id occurs in training, and no generated task shares a ticket, a
title or the ids of its gold actions with a real task.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from taustack.errors import TaustackError
from taustack.fileio import write_json
from taustack.tasks.generator import generate, kind_of
from taustack.tasks.taskfile import write_task_file

IDS = re.compile(r"\b(?:user|task)_\d+\b")


def titles(task: dict[str, Any]) -> set[str]:
    """The titles a task's gold actions create (lowercased)."""
    actions = (task.get("evaluation_criteria") or {}).get("actions") or []
    return {str(a["arguments"]["title"]).lower() for a in actions if "title" in (a.get("arguments") or {})}


def ticket_ids(task: dict[str, Any]) -> set[str]:
    """The user and task ids a ticket names."""
    return set(IDS.findall(str(task.get("ticket") or "")))


def action_ids(task: dict[str, Any]) -> tuple[str, ...]:
    """The ids in a task's gold actions, in order: its `id tuple`."""
    actions = (task.get("evaluation_criteria") or {}).get("actions") or []
    return tuple(str(value) for a in actions for key, value in sorted((a.get("arguments") or {}).items())
                 if key in ("user_id", "task_id"))


def overlap(tasks: list[dict[str, Any]], others: list[dict[str, Any]], ids: str = "ticket") -> str | None:
    """The first ticket, title or id of `tasks` that `others` also have (ids: the tickets' ids, or `actions`: the
    id tuples of the gold actions); None when they share none."""
    other_tickets = {str(t.get("ticket")) for t in others if t.get("ticket")}
    other_titles = set().union(*(titles(t) for t in others)) if others else set()
    if ids == "ticket":
        other_ids: set[Any] = set().union(*(ticket_ids(t) for t in others)) if others else set()
    else:
        other_ids = {action_ids(t) for t in others if action_ids(t)}
    for task in tasks:
        if task.get("ticket") in other_tickets:
            return f"task {task['id']}: ticket {task['ticket']!r}"
        shared_titles = titles(task) & other_titles
        if shared_titles:
            return f"task {task['id']}: title {sorted(shared_titles)[0]!r}"
        shared = ticket_ids(task) & other_ids if ids == "ticket" else ({action_ids(task)} & other_ids)
        if shared:
            return f"task {task['id']}: ids {sorted(shared)[0]}"
    return None


def make_sets(out: Path, train_count: int, heldout_count: int, seed: int) -> dict[str, Any]:
    """Write OUT/train.json, OUT/heldout.json and OUT/tasks.json (what was made, from what, and the checks)."""
    train = generate("train", train_count, seed)
    heldout = generate("heldout", heldout_count, seed)
    shared = overlap(heldout, train)
    if shared:
        raise TaustackError(f"held-out set shares with training: {shared} (seed {seed})")
    write_task_file(out / "train.json", train)
    write_task_file(out / "heldout.json", heldout)
    summary: dict[str, Any] = {
        "seed": seed,
        "command": f"taustack tasks generate {out} --train {train_count} --heldout {heldout_count} --seed {seed}",
        "kinds": {side: dict(sorted(Counter(kind_of(t) for t in tasks).items()))
                  for side, tasks in (("train", train), ("heldout", heldout))},
        "checks": ["no held-out ticket, title or ticket id occurs in train.json",
                   "held-out tickets use wordings (templates) train.json never uses"],
    }
    write_json(out / "tasks.json", summary)
    return summary
