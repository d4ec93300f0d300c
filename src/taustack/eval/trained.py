"""Which tasks a model taustack trained has seen: its SFT run's dataset provenance, or the tau2 tasks of its GRPO
run (evaluate it on others)."""

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


def grpo_tasks(environment: dict[str, object], domain: str) -> set[str]:
    """A GRPO run's tasks when `domain` shares its task set (telecom and telecom-workflow do)."""
    from taustack.training.environments import task_catalog

    sets = task_catalog()["domains"]
    trained = environment.get("domain")
    if not isinstance(trained, str) or sets.get(trained, trained) != sets.get(domain, domain):
        return set()
    ids = environment.get("task_ids")
    return {str(task) for task in ids} if isinstance(ids, list) else set()


def training_tasks(model_file: Path, domain: str) -> set[str]:
    """The ids of `domain`'s tasks in the training split of the dataset the model was trained on; empty if unknown."""
    run_json = run_json_of(model_file)
    if run_json is None:
        return set()
    try:
        info = json.loads(run_json.read_text(encoding="utf-8"))
        environment = info.get("environment") if isinstance(info, dict) else None
        if isinstance(environment, dict):  # a GRPO run: the tau2 tasks its episodes were played on
            return grpo_tasks(environment, domain)
        dataset = Path(str(info.get("dataset") or ""))
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


def overlap_note(cell_id: str, trained: int, tasks: int) -> str:
    """The one line run and report print when a cell scores tasks its agent model was trained on."""
    return (f"{cell_id}: {trained} of its {tasks} tasks were trained on by the agent model (its taustack training "
            f"run): their scores are not held-out")
