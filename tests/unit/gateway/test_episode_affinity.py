"""The gateway's derived session id (docker/gateway/taustack_gateway.py): one per episode and trial."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HOOK = Path(__file__).resolve().parents[3] / "docker" / "gateway" / "taustack_gateway.py"
MERGED_SHAPES = re.compile(r"_[rt]\d+$")  # what smg folds into one routing key


@pytest.fixture(scope="module")
def hook(monkeypatch_module: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch_module.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the cost map
    spec = importlib.util.spec_from_file_location("taustack_gateway", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop("taustack_gateway", None)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def opening(task: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "airline policy"}, {"role": "user", "content": task}]


def test_trials_of_one_task_are_distinct_sessions_and_turns_of_one_trial_are_one(hook: ModuleType) -> None:
    first, second = hook.episode_id(opening("cancel"), seed=300), hook.episode_id(opening("cancel"), seed=301)
    later_turn = [*opening("cancel"), {"role": "assistant", "content": "ok"}, {"role": "user", "content": "now"}]
    assert first != second
    assert hook.episode_id(later_turn, seed=300) == first
    assert hook.episode_id(opening("cancel")) != first  # no seed: the opening alone
    assert hook.episode_id(opening("refund"), seed=300) != first
    assert hook.episode_id([], seed=300) is None


def test_derived_ids_never_take_a_shape_a_router_merges(hook: ModuleType) -> None:
    ids = {hook.episode_id(opening(f"task {n}"), seed=seed) for n in range(50) for seed in (None, 0, 7, "3")}
    assert len(ids) == 200
    assert all(re.fullmatch(r"episode-[0-9a-f]{24}", str(value)) and not MERGED_SHAPES.search(str(value))
               for value in ids)


def test_the_hook_sends_the_seeded_id_and_keeps_a_client_id(hook: ModuleType) -> None:
    seeded = {"messages": opening("cancel"), "seed": 300}
    out = asyncio.run(hook.affinity.async_pre_call_hook(None, None, seeded, "completion"))
    assert out["extra_headers"]["X-Session-ID"] == hook.episode_id(opening("cancel"), seed=300)
    own = {"messages": opening("cancel"), "seed": 300,
           "proxy_server_request": {"headers": {"x-session-id": "sim-1234"}}}
    out = asyncio.run(hook.affinity.async_pre_call_hook(None, None, own, "completion"))
    assert out["extra_headers"]["X-Session-ID"] == "sim-1234"
