"""A task's identity: sha256 of a canonical form, so that a results file's `tasks[]` entry and tau2's own
tasks.json spell the same task the same way (without importing tau2).

Canonical form, after tau2 26.3's Task model (tau2/data_model/tasks.py): only the model's top-level fields (extra
keys such as `annotations` are ignored by pydantic too); its non-null defaults filled (an action's requestor
"assistant", an env assertion's assert_value true, evaluation_criteria.reward_basis ["DB", "COMMUNICATE"]); then
nulls and empty lists/objects dropped, integral floats written as integers, keys sorted.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

TASK_FIELDS = ("id", "description", "user_scenario", "ticket", "initial_state", "evaluation_criteria")
DEFAULT_REWARD_BASIS = ["DB", "COMMUNICATE"]


def _fill_defaults(task: dict[str, Any]) -> dict[str, Any]:
    """A copy with the Task model's non-null defaults where the key is absent or null."""
    out = {key: task[key] for key in TASK_FIELDS if key in task}
    criteria = out.get("evaluation_criteria")
    if isinstance(criteria, dict):
        criteria = dict(criteria)
        if criteria.get("reward_basis") is None:
            criteria["reward_basis"] = list(DEFAULT_REWARD_BASIS)
        if isinstance(criteria.get("actions"), list):
            criteria["actions"] = [{**a, "requestor": a.get("requestor") or "assistant"} if isinstance(a, dict)
                                   else a for a in criteria["actions"]]
        if isinstance(criteria.get("env_assertions"), list):
            criteria["env_assertions"] = [
                {**a, "assert_value": True if a.get("assert_value") is None else a["assert_value"]}
                if isinstance(a, dict) else a for a in criteria["env_assertions"]]
        out["evaluation_criteria"] = criteria
    return out


def _canonical(value: Any) -> Any:
    """Nulls and empty containers dropped, integral floats as ints, recursively."""
    if isinstance(value, dict):
        items = {str(k): _canonical(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not None and v != [] and v != {}}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical_task(task: dict[str, Any]) -> Any:
    """The canonical form that task_hash hashes."""
    return _canonical(_fill_defaults(task))


def task_hash(task: dict[str, Any]) -> str:
    """sha256 hex of the task's canonical JSON (sorted keys, compact, UTF-8)."""
    text = json.dumps(canonical_task(task), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
