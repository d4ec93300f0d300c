"""The fake OpenAI fine-tuning API's state (fake_openai_ft.py serves it): files, jobs and how a job moves from
validating_files to succeeded or failed, with the shapes the real API answers in, and its error object."""
from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]
TERMINAL = {"succeeded", "failed", "cancelled"}
PURPOSES = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}
JOB_KEYS = {"model", "training_file", "validation_file", "hyperparameters", "method", "suffix", "seed",
            "integrations", "metadata"}
HYPERPARAMETERS = {"n_epochs": int, "batch_size": int, "learning_rate_multiplier": float}
AUTO = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 2.0}
MAX_STEPS = 50


class ApiError(Exception):
    """An OpenAI error answer: HTTP status and the `error` object's fields."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> Json:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def mask(key: str) -> str:
    return f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}" if len(key) > 7 else "*" * len(key)


@dataclass
class FakeFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int
    status: str = "uploaded"

    def public(self) -> Json:
        return {"id": self.id, "object": "file", "bytes": len(self.content), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": self.status,
                "status_details": None, "expires_at": None}


@dataclass
class FakeJob:
    id: str
    model: str
    training_file: FakeFile
    validation_file: FakeFile | None
    given: Json  # the hyperparameters of the request, as sent
    suffix: str | None
    seed: int
    fails: bool
    created_at: int
    status: str = "validating_files"
    step: int = 0
    events: list[Json] = field(default_factory=list)  # oldest first
    rows: list[Json] = field(default_factory=list)
    checkpoints: list[Json] = field(default_factory=list)  # oldest first
    error: Json | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    result_files: list[str] = field(default_factory=list)
    trained_tokens: int | None = None

    def hyperparameters(self) -> Json:
        """As the API shows them: "auto" until the job runs, then the values it trains with."""
        running = self.status not in ("validating_files", "queued")
        return {name: self.given.get(name, AUTO[name] if running else "auto") for name in HYPERPARAMETERS}

    def examples(self) -> int:
        return sum(1 for line in self.training_file.content.splitlines() if line.strip())

    def steps_per_epoch(self) -> int:
        return math.ceil(self.examples() / int(self.hyperparameters()["batch_size"]))

    def total_steps(self) -> int:
        return min(MAX_STEPS, self.steps_per_epoch() * int(self.hyperparameters()["n_epochs"]))

    def public(self) -> Json:
        hyper = self.hyperparameters()
        return {
            "object": "fine_tuning.job", "id": self.id, "model": self.model, "created_at": self.created_at,
            "finished_at": self.finished_at, "fine_tuned_model": self.fine_tuned_model,
            "organization_id": "org-fake", "result_files": list(self.result_files), "status": self.status,
            "validation_file": self.validation_file.id if self.validation_file else None,
            "training_file": self.training_file.id, "hyperparameters": hyper,
            "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
            "trained_tokens": self.trained_tokens, "error": self.error, "user_provided_suffix": self.suffix,
            "seed": self.seed, "estimated_finish": None, "integrations": [], "metadata": None,
        }

    def event(self, message: str, level: str = "info", data: Json | None = None, kind: str = "message") -> None:
        self.events.append({"object": "fine_tuning.job.event", "id": new_id("ftevent-"), "created_at": int(time.time()),
                            "level": level, "message": message, "data": data or {}, "type": kind})

    def advance(self, fail_marker: str) -> None:
        """One tick of the job's life."""
        if self.status in TERMINAL:
            return
        if self.status == "validating_files":
            problem = bad_line(self.training_file.content)
            if problem:
                self.fail("invalid_training_file", f"The job failed due to an invalid training file. {problem}",
                          "training_file")
            else:
                self.status = "queued"
                self.event("Files validated, moving job to queued state")
        elif self.status == "queued":
            self.status = "running"
            self.event("Fine-tuning job started")
        elif self.fails and self.step >= 1:
            self.fail("fake_failure", f"The job failed: the fake fails models whose name contains {fail_marker!r}")
        elif self.step < self.total_steps():
            self.step += 1
            self.metrics_step()
        else:
            self.succeed()

    def metrics_step(self) -> None:
        step, total = self.step, self.total_steps()
        loss = round(2.0 * 0.8 ** step + 0.1, 4)
        accuracy = round(1 - loss / 2.5, 4)
        data: Json = {"step": step, "train_loss": loss, "train_mean_token_accuracy": accuracy, "total_steps": total}
        message = f"Step {step}/{total}: training loss={loss:.2f}"
        row: Json = {"step": step, "train_loss": loss, "train_accuracy": accuracy, "valid_loss": None,
                     "valid_mean_token_accuracy": None, "full_valid_loss": None,
                     "full_valid_mean_token_accuracy": None}
        if self.validation_file is not None:
            valid = round(loss + 0.05, 4)
            data.update(valid_loss=valid, valid_mean_token_accuracy=round(accuracy - 0.02, 4))
            row.update(valid_loss=valid, valid_mean_token_accuracy=round(accuracy - 0.02, 4))
            message += f", validation loss={valid:.2f}"
            if step == total:
                full = {"full_valid_loss": round(valid + 0.01, 4),
                        "full_valid_mean_token_accuracy": round(accuracy - 0.03, 4)}
                data.update(full)
                row.update(full)
        self.rows.append(row)
        self.event(message, data=data, kind="metrics")

    def fail(self, code: str, message: str, param: str | None = None) -> None:
        self.status, self.finished_at = "failed", int(time.time())
        self.error = {"code": code, "message": message, "param": param}
        self.event(message, level="error")

    def succeed(self) -> None:
        short = self.id.removeprefix("ftjob-")[:8]
        self.fine_tuned_model = f"ft:{self.model}:fake-org:{self.suffix or ''}:{short}"
        per_epoch, total, epochs = self.steps_per_epoch(), self.total_steps(), int(self.hyperparameters()["n_epochs"])
        steps = sorted({min(total, per_epoch * epoch) for epoch in range(1, epochs + 1)})
        for step in steps[-3:]:
            row = self.rows[step - 1]
            name = self.fine_tuned_model if step == total else f"{self.fine_tuned_model}:ckpt-step-{step}"
            self.checkpoints.append({
                "object": "fine_tuning.job.checkpoint", "id": new_id("ftckpt_"), "created_at": int(time.time()),
                "fine_tuned_model_checkpoint": name, "fine_tuning_job_id": self.id, "step_number": step,
                "metrics": {"step": float(step), "train_loss": row["train_loss"],
                            "train_mean_token_accuracy": row["train_accuracy"], "valid_loss": row["valid_loss"],
                            "valid_mean_token_accuracy": row["valid_mean_token_accuracy"],
                            "full_valid_loss": row["full_valid_loss"],
                            "full_valid_mean_token_accuracy": row["full_valid_mean_token_accuracy"]}})
            if step != total:
                self.event(f"Checkpoint created at step {step}")
        self.trained_tokens = len(self.training_file.content) // 4 * epochs
        self.status, self.finished_at = "succeeded", int(time.time())
        self.event(f"New fine-tuned model created: {self.fine_tuned_model}")
        self.event("The job has successfully completed")

    def result_csv(self) -> bytes:
        columns = ["step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy",
                   "full_valid_loss", "full_valid_mean_token_accuracy"]
        lines = [",".join(columns)]
        lines += [",".join("" if row[c] is None else str(row[c]) for c in columns) for row in self.rows]
        return ("\n".join(lines) + "\n").encode()


def bad_line(content: bytes) -> str | None:
    """Why a chat fine-tuning file is invalid (the first bad line), or None."""
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return f"Line {number} is not valid JSON."
        if not isinstance(record, dict) or not isinstance(record.get("messages"), list) or not record["messages"]:
            return f"Line {number} has no messages."
    return None
