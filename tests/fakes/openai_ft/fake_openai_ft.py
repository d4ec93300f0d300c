"""Protocol-faithful fake of OpenAI's Files and fine-tuning jobs API (Python 3.11 stdlib only).

What the openai SDK calls for supervised fine-tuning, with the real shapes (FileObject, FineTuningJob,
FineTuningJobEvent, FineTuningJobCheckpoint, cursor pages, `{"error": {message, type, param, code}}`):

  POST /v1/files                      multipart (file, purpose); fine-tune files must be .jsonl
  GET  /v1/files/{id}                 status "uploaded" at first, "processed" once read back
  GET  /v1/files/{id}/content         result files base64-encoded CSV, as the real API serves them; the
                                      content of purpose fine-tune files may not be downloaded (400)
  POST /v1/fine_tuning/jobs           body checked: known keys, model, training_file (exists, purpose fine-tune),
                                      validation_file, method.type == "supervised", its hyperparameters
  GET  /v1/fine_tuning/jobs/{id}      each GET moves the job one tick: validating_files -> queued -> running ->
                                      one "metrics" event per step -> succeeded (result file, checkpoints)
  GET  /v1/fine_tuning/jobs/{id}/events       newest first; `after` is the cursor toward older events; limit
  GET  /v1/fine_tuning/jobs/{id}/checkpoints  newest first, at the end of each of the last 3 epochs
  POST /v1/fine_tuning/jobs/{id}/cancel

Every request needs `Authorization: Bearer <key>` (401 otherwise, echoing the key masked, as OpenAI does). A model
name containing `fail_marker` ("fail") makes the job fail after its first step with an error object. Steps:
ceil(examples / batch_size) * n_epochs ("auto" is 3 epochs, batch size 1), at most 50. In-process:
``with FakeOpenAIFineTuning() as fake: fake.url`` (port 0: a free one); ``fake.requests`` records what came in
(never the Authorization header). Alone: ``python3 tests/fakes/openai_ft/fake_openai_ft.py --port 8089``
(key: FAKE_OPENAI_API_KEY, default sk-fake-openai-ft).
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import os
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.append(str(Path(__file__).resolve().parent.parent / "common"))  # fake_common in a checkout

from fake_common import FakeHandler, serve

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


class FakeOpenAIFineTuning(ThreadingHTTPServer):
    """The fake's state (files, jobs, recorded requests) and its server; a context manager serving in a thread."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str = "sk-fake-openai-ft",
                 fail_marker: str = "fail") -> None:
        super().__init__((host, port), Handler)
        self.api_key, self.fail_marker = api_key, fail_marker
        self.lock = threading.Lock()
        self.files: dict[str, FakeFile] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.requests: list[Json] = []  # method, path, query, json / form fields; never the Authorization header
        self.errors: list[str] = []  # exceptions inside the fake (answered 500): a test should see none
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeOpenAIFineTuning:
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def requests_to(self, method: str, pattern: str) -> list[Json]:
        return [r for r in self.requests if r["method"] == method and re.fullmatch(pattern, r["path"])]


ROUTES = [
    ("POST", r"/v1/files", "create_file"),
    ("GET", r"/v1/files/(?P<file_id>[^/]+)", "get_file"),
    ("GET", r"/v1/files/(?P<file_id>[^/]+)/content", "file_content"),
    ("POST", r"/v1/fine_tuning/jobs", "create_job"),
    ("GET", r"/v1/fine_tuning/jobs/(?P<job_id>[^/]+)", "get_job"),
    ("GET", r"/v1/fine_tuning/jobs/(?P<job_id>[^/]+)/events", "events"),
    ("GET", r"/v1/fine_tuning/jobs/(?P<job_id>[^/]+)/checkpoints", "checkpoints"),
    ("POST", r"/v1/fine_tuning/jobs/(?P<job_id>[^/]+)/cancel", "cancel"),
]


class Handler(FakeHandler):
    """One keep-alive connection; ``h_*`` methods are the endpoints."""

    server: FakeOpenAIFineTuning
    query: dict[str, str]

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        self.send_header("x-request-id", new_id("req_"))

    def route(self) -> None:
        self.query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        for method, pattern, name in ROUTES:
            match = re.fullmatch(pattern, self.path_only)
            if match and self.command == method:
                self.authorize()
                with self.server.lock:
                    getattr(self, "h_" + name)(**match.groupdict())
                return
        raise ApiError(404, f"Invalid URL ({self.command} {self.path_only})")

    def fail(self, exc: Exception) -> None:
        if isinstance(exc, ApiError):
            return self._json(exc.body(), exc.status)
        self.server.errors.append(f"{type(exc).__name__}: {exc}")
        return self._json(ApiError(500, "The server had an error while processing your request.", None, None,
                                   "server_error").body(), 500)

    def authorize(self) -> None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            raise ApiError(401, "You didn't provide an API key. You need to provide your API key in an "
                                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        key = header[7:].strip()
        if key != self.server.api_key:
            raise ApiError(401, f"Incorrect API key provided: {mask(key)}. You can find your API key at "
                                "https://platform.openai.com/account/api-keys.", code="invalid_api_key")

    def record(self, **details: Any) -> None:
        self.server.requests.append({"method": self.command, "path": self.path_only, "query": dict(self.query),
                                     **details})

    def json_body(self) -> Json:
        try:
            body = json.loads(self.body or b"{}")
        except ValueError:
            raise ApiError(400, "We could not parse the JSON body of your request.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return body

    def limit(self, default: int) -> int:
        try:
            value = int(self.query.get("limit", default))
        except ValueError:
            raise ApiError(400, "Invalid 'limit': expected an integer.", "limit") from None
        if not 1 <= value <= 100:
            raise ApiError(400, f"Invalid 'limit': integer out of range ({value}), expected 1 to 100.", "limit")
        return value

    def page(self, items: list[Json], default_limit: int) -> Json:
        """A cursor page of ITEMS (newest first): `after` is the id of the last item of the page before."""
        limit, after = self.limit(default_limit), self.query.get("after")
        if after is not None:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise ApiError(400, f"Invalid 'after': no such id {after!r}.", "after")
            items = items[ids.index(after) + 1:]
        data = items[:limit]
        return {"object": "list", "data": data, "has_more": len(items) > limit,
                "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}

    def job(self, job_id: str) -> FakeJob:
        job = self.server.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"No fine-tuning job found with id {job_id!r}.", "fine_tuning_job_id",
                           "fine_tune_not_found")
        return job

    def file(self, file_id: str, param: str = "file_id") -> FakeFile:
        found = self.server.files.get(file_id)
        if found is None and param != "file_id":  # a job naming a file that is not there
            raise ApiError(400, f"invalid {param}: {file_id}", param)
        if found is None:
            raise ApiError(404, f"No such File object: {file_id}", param)
        return found

    # --- files ------------------------------------------------------------------------------------------------

    def h_create_file(self) -> None:
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise ApiError(400, "Expected a multipart/form-data body with 'file' and 'purpose'.")
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + self.body)
        fields: dict[str, str] = {}
        upload: tuple[str, bytes] | None = None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if name == "file":
                upload = (part.get_filename() or "upload", payload)
            elif isinstance(name, str):
                fields[name] = payload.decode()
        self.record(form=fields, filename=upload[0] if upload else None)
        purpose = fields.get("purpose")
        if purpose not in PURPOSES:
            raise ApiError(400, f"Invalid value for 'purpose': {purpose!r}.", "purpose")
        if upload is None:
            raise ApiError(400, "Missing required parameter: 'file'.", "file")
        filename, content = upload
        if purpose == "fine-tune" and not filename.endswith(".jsonl"):
            raise ApiError(400, "Invalid file format for Fine-Tuning API. Must be .jsonl", "file")
        if not content.strip():
            raise ApiError(400, "File is empty.", "file")
        created = FakeFile(new_id("file-"), filename, purpose, content, int(time.time()))
        self.server.files[created.id] = created
        self._json(created.public())

    def h_get_file(self, file_id: str) -> None:
        self.record()
        found = self.file(file_id)
        found.status = "processed"  # what the upload answered "uploaded" is processed by the time it is read back
        self._json(found.public())

    def h_file_content(self, file_id: str) -> None:
        self.record()
        found = self.file(file_id)
        if found.purpose == "fine-tune":
            raise ApiError(400, "Not allowed to download files of purpose: fine-tune")
        self._send(200, found.content, "application/octet-stream")

    # --- jobs -------------------------------------------------------------------------------------------------

    def h_create_job(self) -> None:
        body = self.json_body()
        self.record(json=body)
        unknown = sorted(set(body) - JOB_KEYS)
        if unknown:
            raise ApiError(400, f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "Missing required parameter: 'model'.", "model")
        training = self.file(str(body.get("training_file")), "training_file")
        if training.purpose != "fine-tune":
            raise ApiError(400, f"File {training.id} has purpose {training.purpose!r}, not 'fine-tune'.",
                           "training_file", "invalid_training_file")
        validation = None
        if body.get("validation_file") is not None:
            validation = self.file(str(body["validation_file"]), "validation_file")
        method = body.get("method")
        if not isinstance(method, dict) or method.get("type") != "supervised":
            raise ApiError(400, "This fake supports method.type 'supervised' only.", "method.type")
        given = ((method.get("supervised") or {}).get("hyperparameters") or {})
        for name, value in given.items():
            kind = HYPERPARAMETERS.get(name)
            ok = kind is not None and (value == "auto" or (isinstance(value, (int, float)) and not isinstance(
                value, bool) and value > 0 and (kind is float or isinstance(value, int))))
            if not ok:
                raise ApiError(400, f"Invalid hyperparameter {name}={value!r}.",
                               f"method.supervised.hyperparameters.{name}")
        suffix = body.get("suffix")
        if suffix is not None and (not isinstance(suffix, str) or len(suffix) > 64):
            raise ApiError(400, "suffix must be a string of at most 64 characters.", "suffix")
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ApiError(400, "seed must be an integer.", "seed")
        job = FakeJob(new_id("ftjob-"), model, training, validation,
                      {name: value for name, value in given.items() if value != "auto"}, suffix,
                      seed if seed is not None else secrets.randbelow(2**31), self.server.fail_marker in model,
                      int(time.time()))
        job.event(f"Created fine-tuning job: {job.id}")
        job.event(f"Validating training file: {training.id}" +
                  (f" and validation file: {validation.id}" if validation else ""))
        self.server.jobs[job.id] = job
        self._json(job.public())

    def h_get_job(self, job_id: str) -> None:
        self.record()
        job = self.job(job_id)
        was = job.status
        job.advance(self.server.fail_marker)
        if job.status == "succeeded" and was != "succeeded":
            result = FakeFile(new_id("file-"), "step_metrics.csv", "fine-tune-results",
                              base64.b64encode(job.result_csv()), int(time.time()), "processed")
            self.server.files[result.id] = result
            job.result_files.append(result.id)
        self._json(job.public())

    def h_events(self, job_id: str) -> None:
        self.record()
        self._json(self.page(list(reversed(self.job(job_id).events)), 20))

    def h_checkpoints(self, job_id: str) -> None:
        self.record()
        self._json(self.page(list(reversed(self.job(job_id).checkpoints)), 10))

    def h_cancel(self, job_id: str) -> None:
        self.record()
        job = self.job(job_id)
        if job.status in TERMINAL:
            raise ApiError(400, f"Job {job_id} has already {job.status}.", "fine_tuning_job_id")
        job.status, job.finished_at = "cancelled", int(time.time())
        job.event("The job has been cancelled")
        self._json(job.public())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args(argv)
    server = FakeOpenAIFineTuning(args.host, args.port, os.environ.get("FAKE_OPENAI_API_KEY") or "sk-fake-openai-ft")
    print(f"fake OpenAI fine-tuning API on {server.url}", flush=True)
    return serve(server)


if __name__ == "__main__":
    sys.exit(main())
