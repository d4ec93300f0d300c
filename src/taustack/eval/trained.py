"""Which tasks a model taustack trained has seen: its run's dataset provenance (evaluate it on others)."""

from __future__ import annotations

import json
from pathlib import Path

PROVENANCE = "openai_provenance.jsonl"


def run_json_of(model_file: Path) -> Path | None:
    """runs/<id>/run.json for a model file inside a training run directory (export/model.gguf, adapter/...)."""
    for folder in list(model_file.resolve().parents)[:3]:
        if (folder / "run.json").is_file():
            return folder / "run.json"
    return None


def training_tasks(model_file: Path, domain: str) -> set[str]:
    """The ids of `domain`'s tasks in the training split of the dataset the model was trained on; empty if unknown."""
    run_json = run_json_of(model_file)
    if run_json is None:
        return set()
    try:
        dataset = Path(str(json.loads(run_json.read_text(encoding="utf-8")).get("dataset") or ""))
    except (OSError, ValueError, AttributeError):
        return set()
    candidates = [dataset] if dataset.is_absolute() else [Path.cwd() / dataset, run_json.parents[2] / dataset]
    found: set[str] = set()
    for folder in candidates:
        try:
            lines = (folder / PROVENANCE).read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("file") == "train.jsonl" and entry.get("domain") == domain and entry.get("task_id"):
                found.add(str(entry["task_id"]))
        break
    return found
