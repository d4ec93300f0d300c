"""`taustack train openai`: check, upload, create, follow, save; `--follow` re-attaches, `--cancel` cancels.

Progress goes to stderr; stdout gets only what a script wants: the fine-tuned model's name on success, the job
id with --detach. Ctrl-C while following detaches (the job runs on) and says how to follow it again.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from taustack.fileio import write_json
from taustack.training.openai_ft import BASE_URL_ENV, DETACHED_EXIT, FineTuneError
from taustack.training.openai_ft.api import Api, connect
from taustack.training.openai_ft.dataset import check_dataset
from taustack.training.openai_ft.follow import follow
from taustack.training.openai_ft.results import METRICS_FILE, parse_metrics, save_job, write_plot
from taustack.training.openai_ft.submit import Submission, submit

if TYPE_CHECKING:
    from openai.types.fine_tuning import FineTuningJob

SUBMITTED_FILE = "submitted.json"


@dataclass(frozen=True)
class Connection:
    base_url: str | None  # None: OPENAI_BASE_URL, else the SDK's default
    poll_s: float
    out: Path | None  # None: runs/openai-<job id>/ in the project


def out_dir(connection: Connection, job_id: str) -> Path:
    if connection.out is not None:
        return connection.out
    from taustack.workspace import find_root

    return find_root() / "runs" / f"openai-{job_id}"


def follow_command(connection: Connection, job_id: str) -> str:
    """The command that attaches to JOB_ID again (with the --base-url and --out this one was given)."""
    words = ["taustack", "train", "openai", "--follow", job_id]
    if connection.base_url is not None and connection.base_url != os.environ.get(BASE_URL_ENV):
        words += ["--base-url", connection.base_url]
    if connection.out is not None:
        words += ["--out", str(connection.out)]
    return shlex.join(words)


def create(dataset: str, validation: bool, submission: Submission, detach: bool, connection: Connection,
           console: Console, stdout: Console) -> int:
    """Check the dataset before anything is uploaded, submit, then follow (unless DETACH); the exit code."""
    data = check_dataset(dataset, validation)
    api = connect(connection.base_url)
    if connection.out is None:  # outside a checkout: fail before anything is uploaded, not after the job exists
        out_dir(connection, "")
    job, sent = submit(api, data, submission, console, connection.poll_s)
    write_json(out_dir(connection, job.id) / SUBMITTED_FILE, sent)
    console.print(f"created job {job.id} ({job.status}) on {api.base_url}", markup=False, highlight=False)
    if detach:
        console.print(f"follow it with: {follow_command(connection, job.id)}", markup=False, highlight=False)
        stdout.print(job.id, markup=False, highlight=False)
        return 0
    return attach(api, job.id, connection, console, stdout)


def follow_existing(job_id: str, connection: Connection, console: Console, stdout: Console) -> int:
    return attach(connect(connection.base_url), job_id, connection, console, stdout)


def attach(api: Api, job_id: str, connection: Connection, console: Console, stdout: Console) -> int:
    """Follow until the job ends and save its folder; Ctrl-C detaches and leaves the job running."""
    try:
        job = follow(api, job_id, console, connection.poll_s)
        folder = out_dir(connection, job.id)
        record = save_job(api, job, folder)
    except KeyboardInterrupt:
        console.print(f"\ndetached from job {job_id}: it keeps running on OpenAI (cancel it with "
                      f"`taustack train openai --cancel {job_id}`); follow it again with:\n"
                      f"  {follow_command(connection, job_id)}", markup=False, highlight=False)
        return DETACHED_EXIT
    return finish(job, folder, record, console, stdout)


def finish(job: FineTuningJob, folder: Path, record: dict[str, object], console: Console, stdout: Console) -> int:
    """Plot, summarize; a failed or cancelled job is an error naming it."""
    if job.status == "failed":
        error = job.error
        reason = f"{error.message} ({error.code})" if error is not None else "no error message"
        raise FineTuneError(" ".join(f"fine-tuning job {job.id} failed: {reason}; details in {folder}".split()))
    if job.status == "cancelled":
        raise FineTuneError(f"fine-tuning job {job.id} was cancelled; details in {folder}")
    plot = None
    metrics = folder / METRICS_FILE
    if metrics.is_file():
        rows = parse_metrics(metrics.read_text(encoding="utf-8"))
        plot = write_plot(rows, folder, f"{job.fine_tuned_model or job.id}")
    saved = ", ".join(name for name in ("job.json", METRICS_FILE if metrics.is_file() else None,
                                        plot.name if plot else None) if name)
    checkpoints = record.get("checkpoints")
    count = len(checkpoints) if isinstance(checkpoints, list) else 0
    console.print(f"succeeded: {job.fine_tuned_model} ({job.trained_tokens or '?'} trained tokens, {count} "
                  f"checkpoints); wrote {saved} in {folder}", markup=False, highlight=False)
    stdout.print(job.fine_tuned_model or "", markup=False, highlight=False)
    return 0


def cancel(job_id: str, connection: Connection, console: Console) -> None:
    job = connect(connection.base_url).cancel(job_id)
    console.print(f"cancelled job {job.id} (status: {job.status})", markup=False, highlight=False)
