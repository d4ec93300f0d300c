"""Upload the dataset and create the job: the hyperparameters sent are exactly the ones given, never filled in."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from taustack.training.openai_ft import FineTuneError
from taustack.training.openai_ft.api import Api
from taustack.training.openai_ft.dataset import FineTuneData

if TYPE_CHECKING:
    from openai.types import FileObject
    from openai.types.fine_tuning import FineTuningJob, SupervisedHyperparametersParam
    from openai.types.fine_tuning.job_create_params import Method

HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")
FILE_WAIT_S = 120.0


@dataclass(frozen=True)
class Hyperparameters:
    """What the user gave; None means the API decides (its "auto")."""

    n_epochs: int | None = None
    batch_size: int | None = None
    learning_rate_multiplier: float | None = None

    def given(self) -> SupervisedHyperparametersParam:
        given: SupervisedHyperparametersParam = {}
        if self.n_epochs is not None:
            given["n_epochs"] = self.n_epochs
        if self.batch_size is not None:
            given["batch_size"] = self.batch_size
        if self.learning_rate_multiplier is not None:
            given["learning_rate_multiplier"] = self.learning_rate_multiplier
        return given

    def describe(self) -> str:
        given = dict(self.given())
        rest = [name for name in HYPERPARAMETERS if name not in given]
        shown = ", ".join(f"{name}={value}" for name, value in given.items()) if given else "none"
        left = f"{', '.join(rest)} left to the API's defaults" if rest else "nothing left to the API's defaults"
        return f"hyperparameters given: {shown}; {left}"


@dataclass(frozen=True)
class Submission:
    model: str
    hyperparameters: Hyperparameters
    suffix: str | None = None
    seed: int | None = None


def upload(api: Api, path: Path, examples: int, console: Console, poll_s: float) -> FileObject:
    """Upload one JSONL file (purpose fine-tune) and wait, for a while, until the API has processed it."""
    plural = "" if examples == 1 else "s"
    console.print(f"uploading {path} ({examples} example{plural}, {path.stat().st_size / 1024:.1f} KiB)",
                  markup=False, highlight=False)
    uploaded = api.upload(path)
    deadline = time.monotonic() + FILE_WAIT_S
    while uploaded.status == "uploaded" and time.monotonic() < deadline:
        time.sleep(poll_s)
        uploaded = api.file(uploaded.id)
    if uploaded.status == "error":
        raise FineTuneError(f"{path}: the API could not process the upload {uploaded.id}: "
                            f"{uploaded.status_details or 'no details'}")
    console.print(f"  -> {uploaded.id} ({uploaded.status})", markup=False, highlight=False)
    return uploaded


def submit(api: Api, data: FineTuneData, submission: Submission, console: Console,
           poll_s: float) -> tuple[FineTuningJob, dict[str, Any]]:
    """Upload train (and test as the validation file), create the job; returns it and what was sent."""
    train = upload(api, data.train, data.train_examples, console, poll_s)
    test = upload(api, data.test, data.test_examples, console, poll_s) if data.test is not None else None
    if test is None:
        console.print("no validation file (no test.jsonl with examples, or --no-validation)")
    method: Method = {"type": "supervised", "supervised": {"hyperparameters": submission.hyperparameters.given()}}
    options: dict[str, Any] = {}
    if test is not None:
        options["validation_file"] = test.id
    if submission.suffix is not None:
        options["suffix"] = submission.suffix
    if submission.seed is not None:
        options["seed"] = submission.seed
    console.print(submission.hyperparameters.describe(), markup=False, highlight=False)
    job = api.create_job(submission.model, train.id, method, options)
    sent = {
        "job_id": job.id, "created_at": job.created_at, "api_base_url": api.base_url, "model": submission.model,
        "dataset": str(data.folder.resolve()), "dataset_sha256": data.sha256,
        "training_file": {"path": str(data.train), "examples": data.train_examples, "id": train.id},
        "validation_file": {"path": str(data.test), "examples": data.test_examples, "id": test.id}
        if test is not None and data.test is not None else None,
        "method": method, "suffix": submission.suffix, "seed": submission.seed,
    }
    return job, sent
