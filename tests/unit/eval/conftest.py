"""Shared data for the eval tests: the repo's real tau2 results files and a run directory built from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "tau2-results"
AIRLINE_A = DATA / "gpt-4.1_airline_default_1trial.json"
AIRLINE_B = DATA / "ollama_chat-qwen2.5-7b_airline_default_1trial.json"
GPT_FILES = sorted(DATA.glob("gpt-4.1_*.json"))


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def multi_trial(path: Path, trials: int, out: Path) -> Path:
    """A results file with `trials` trials per task, from one file's simulations relabelled (tau2 still loads it);
    trial t of task i copies the simulation of task (i + t) so outcomes differ between trials."""
    data = load_json(path)
    simulations = data["simulations"]
    made = []
    for trial in range(trials):
        for index, simulation in enumerate(simulations):
            source = simulations[(index + trial) % len(simulations)]
            made.append({**source, "id": f"{simulation['id']}-{trial}", "task_id": simulation["task_id"],
                         "trial": trial})
    data["simulations"] = made
    data["info"]["num_trials"] = trials
    out.write_text(json.dumps(data), encoding="utf-8")
    return out


@pytest.fixture
def tau2_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def make_run_dir(folder: Path, results: list[Path], errors: list[dict[str, Any]] | None = None) -> Path:
    """A run directory as `taustack eval run` writes it (manifest + results/ + errors.jsonl)."""
    (folder / "results").mkdir(parents=True)
    cells = []
    for index, path in enumerate(results):
        data = load_json(path)
        cell_id = f"cell{index}"
        (folder / "results" / f"{cell_id}.json").write_text(json.dumps(data), encoding="utf-8")
        info = data["info"]
        cells.append({"id": cell_id, "domain": info["environment_info"]["domain_name"], "mode": "default",
                      "agent": "llm_agent", "agent_model": {"name": "m", "model": "openai/m", "args": {}},
                      "user_model": {"name": "u", "model": "openai/u", "args": {}}, "judge_model": None,
                      "nl_assertions": False, "split": "base", "task_ids": [t["id"] for t in data["tasks"]],
                      "trials": info["num_trials"], "results": f"results/{cell_id}.json", "task_hashes": {}})
    manifest = {"schema_version": 1, "name": folder.name, "tau2_version": "26.3", "cells": cells}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    if errors is not None:
        (folder / "errors.jsonl").write_text("".join(json.dumps(e) + "\n" for e in errors), encoding="utf-8")
    return folder
