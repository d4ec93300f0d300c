"""A run directory's manifest (what ran, against what, with which seeds) and where its files live.

    evals/<name>/manifest.json             versions, command line, cells, serving fingerprints (no keys)
    evals/<name>/results/<cell>.json       tau2 26.3 results, one per grid cell
    evals/<name>/errors.jsonl              the cause of every errored simulation, by simulation id
    evals/<name>/logs/<cell>.log           each cell process's output
    evals/<name>/journal/<cell>.jsonl      finished simulations, appended one line each (resume reads it)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taustack.errors import TaustackError
from taustack.fileio import write_atomic

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelRecord(Model):
    """A model as recorded: its name, what tau2 calls, where, with which args; `key_env` names a variable."""

    name: str
    model: str
    base_url: str
    via: str
    args: dict[str, Any]
    key_env: str | None = None  # the variable the cell process reads the key from
    key_source: str | None = None  # where the key came from: "gateway" (the master key), or the user's variable


class Cell(Model):
    """One grid cell: one tau2 run (domain x mode x agent model) in its own process."""

    id: str
    domain: str
    mode: str
    agent: str
    tau2_agent: str
    tau2_user: str
    agent_model: ModelRecord
    user_model: ModelRecord | None
    judge_model: ModelRecord | None = None
    nl_assertions: bool = False
    split: str | None
    task_ids: list[str]
    trials: int
    seed: int
    trial_seeds: list[int]
    max_steps: int
    max_errors: int
    concurrency: int
    max_retries: int
    results: str
    task_hashes: dict[str, str]
    trained_tasks: list[str] = []  # the cell's tasks the agent model was trained on (a taustack training run)
    agent_config_file: str | None = None  # taustack's agents: the config the cell's agents read (in the run dir)
    agent_config_sha256: str | None = None  # of the file given with --agent-config (None: the defaults)
    agent_config: dict[str, Any] | None = None  # the config in effect, served context filled in
    tasks_file: str | None = None  # `--tasks FILE`: the task file the cell's tasks come from (absolute path)
    tasks_file_sha256: str | None = None

    @property
    def simulations(self) -> int:
        return len(self.task_ids) * self.trials


class Manifest(Model):
    schema_version: int = SCHEMA_VERSION
    name: str
    created: str
    taustack_version: str
    tau2_version: str
    command: list[str]
    cells: list[Cell]
    serving: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    def cell(self, cell_id: str) -> Cell:
        for cell in self.cells:
            if cell.id == cell_id:
                return cell
        raise TaustackError(f"the manifest has no cell {cell_id!r}")


class RunDir:
    """The files of one run directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST

    @property
    def errors_file(self) -> Path:
        return self.path / "errors.jsonl"

    def results_file(self, cell: Cell) -> Path:
        return self.path / cell.results

    def journal(self, cell: Cell) -> Path:
        return self.path / "journal" / f"{cell.id}.jsonl"

    def cell_errors(self, cell: Cell) -> Path:
        return self.path / "journal" / f"{cell.id}.errors.jsonl"

    def log(self, cell: Cell) -> Path:
        return self.path / "logs" / f"{cell.id}.log"

    def make_folders(self) -> None:
        for sub in ("results", "journal", "logs"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def write_manifest(self, manifest: Manifest) -> None:
        write_atomic(self.manifest_file, manifest.model_dump_json(indent=2) + "\n")

    def read_manifest(self) -> Manifest:
        try:
            return Manifest.model_validate_json(self.manifest_file.read_text(encoding="utf-8"))
        except OSError:
            raise TaustackError(f"{self.path}: not a taustack eval run (no {MANIFEST})") from None
        except ValidationError as exc:
            raise TaustackError(f"{self.manifest_file}: not a taustack eval manifest ({exc.errors()[0]['msg']})") \
                from None
