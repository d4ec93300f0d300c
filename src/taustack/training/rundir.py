"""A run directory (runs/<timestamp>-<name>/): recipe, provenance, state, metrics, checkpoints, adapter, export.

  recipe.yaml        the validated recipe, as trained
  run.json           id, model, dataset, dataset sha256 (train.jsonl + test.jsonl), image, git revision, devices,
                     command, start time
  state.json         written when the container ends: state (finished | failed | stopped), exit code, OOM kill
  metrics.jsonl      the trainer's log history, one JSON object per log step (written inside the container)
  checkpoints/       TRL's checkpoint-N folders (--resume continues from the last)
  adapter/           the trained LoRA adapter and tokenizer (model/: a full-parameter run's whole model)
  export/            `taustack train export`: merged HF files, model.gguf, Modelfile
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from taustack.training.recipe import TrainingError

DATASET_FILES = ("train.jsonl", "test.jsonl")
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def dataset_sha256(dataset: Path) -> str:
    """sha256 over train.jsonl then test.jsonl (a missing test.jsonl counts as empty)."""
    train = dataset / "train.jsonl"
    if not train.is_file():
        raise TrainingError(f"dataset {dataset}: no train.jsonl (make one with `taustack dataset to-openai`)")
    digest = hashlib.sha256()
    for name in DATASET_FILES:
        path = dataset / name
        if path.is_file():
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def git_revision(root: Path) -> str | None:
    """The checkout's commit (with `-dirty` when it has changes), or None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10,
                              check=False)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def new_run_id(name: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{name}"


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl's objects; a line cut short by a running writer is skipped."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def recipe(self) -> Path:
        return self.path / "recipe.yaml"

    @property
    def info_file(self) -> Path:
        return self.path / "run.json"

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def adapter(self) -> Path:
        return self.path / "adapter"

    @property
    def model(self) -> Path:
        """A full-parameter run's trained model (method: full), in place of an adapter."""
        return self.path / "model"

    @property
    def export(self) -> Path:
        return self.path / "export"

    def info(self) -> dict[str, Any]:
        return read_json(self.info_file) or {}

    def state(self) -> dict[str, Any] | None:
        return read_json(self.state_file)

    def metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.metrics_file)

    def last_checkpoint(self) -> Path | None:
        if not self.checkpoints.is_dir():
            return None
        found = [(int(m.group(1)), p) for p in self.checkpoints.iterdir() if (m := CHECKPOINT.match(p.name))]
        return max(found)[1] if found else None


def find_run(runs_dir: Path, run: str) -> RunDir:
    """A run by path, by id, or by a unique id suffix/prefix (`tiny-sft`)."""
    direct = Path(run)
    if (direct / "run.json").is_file():
        return RunDir(direct)
    if (runs_dir / run / "run.json").is_file():
        return RunDir(runs_dir / run)
    matches = sorted(p for p in runs_dir.glob("*") if (p / "run.json").is_file()
                     and (p.name.endswith(f"-{run}") or p.name.startswith(run))) if runs_dir.is_dir() else []
    if len(matches) == 1:
        return RunDir(matches[0])
    if len(matches) > 1:
        raise TrainingError(f"run {run!r} matches {len(matches)} runs in {runs_dir}: "
                            f"{', '.join(p.name for p in matches[-3:])}; give the full id")
    raise TrainingError(f"no run {run!r} in {runs_dir} (see `taustack train status`)")


def list_runs(runs_dir: Path) -> list[RunDir]:
    if not runs_dir.is_dir():
        return []
    return [RunDir(p) for p in sorted(runs_dir.iterdir()) if (p / "run.json").is_file()]
