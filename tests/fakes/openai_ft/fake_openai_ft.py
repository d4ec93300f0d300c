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
import os
import re
import secrets
import sys
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.append(str(Path(__file__).resolve().parent.parent / "common"))  # fake_common in a checkout

from fake_common import FakeHandler, serve

sys.path.append(str(Path(__file__).resolve().parent))  # fake_jobs beside it, when imported as a module
from fake_jobs import HYPERPARAMETERS, JOB_KEYS, PURPOSES, TERMINAL, ApiError, FakeFile, FakeJob, Json, mask, new_id


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
