"""The one path to OpenAI's fine-tuning API: the key from the environment only, and every API error turned into
one line that names what was being done and never carries the key."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from taustack.training.openai_ft import KEY_ENV, FineTuneError

if TYPE_CHECKING:
    from openai import OpenAI
    from openai.pagination import SyncCursorPage
    from openai.types import FileObject
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
    from openai.types.fine_tuning.job_create_params import Method
    from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint

T = TypeVar("T")


class TransientApiError(FineTuneError):
    """The API could not be reached, or answered 429 or 5xx after the SDK's own retries: worth another poll."""


def read_key() -> str:
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise FineTuneError(f"{KEY_ENV} is not set: export it in this shell (taustack reads the key only from the "
                            "environment)")
    return key


def one_line(text: str, key: str) -> str:
    """TEXT on one line, with the key (should an answer echo it) blanked out."""
    return " ".join(text.replace(key, "***").split())


@dataclass
class Api:
    """A thin wrapper over the SDK client: each call is named, so its error says what failed."""

    client: OpenAI
    key: str

    @property
    def base_url(self) -> str:
        return str(self.client.base_url).rstrip("/")

    def call(self, what: str, function: Callable[[], T]) -> T:
        with self.errors(what):
            return function()

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        import openai

        try:
            yield
        except openai.AuthenticationError:
            raise FineTuneError(f"{what}: the API at {self.base_url} refused the key in {KEY_ENV} "
                                "(401 Unauthorized)") from None
        except openai.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            message = one_line(str(body.get("message") or exc.message), self.key)
            kind = TransientApiError if exc.status_code == 429 or exc.status_code >= 500 else FineTuneError
            raise kind(f"{what}: OpenAI answered {exc.status_code}: {message}") from None
        except openai.APIConnectionError as exc:  # includes timeouts
            reason = one_line(str(exc.__cause__ or exc), self.key)
            raise TransientApiError(f"{what}: cannot reach {self.base_url}: {reason}") from None
        except openai.OpenAIError as exc:  # e.g. an answer that is not what the SDK expects
            raise FineTuneError(f"{what}: {one_line(str(exc), self.key)}") from None

    def upload(self, path: Path) -> FileObject:
        with path.open("rb") as handle:
            return self.call(f"uploading {path}",
                             lambda: self.client.files.create(file=(path.name, handle), purpose="fine-tune"))

    def file(self, file_id: str) -> FileObject:
        return self.call(f"reading file {file_id}", lambda: self.client.files.retrieve(file_id))

    def content(self, file_id: str) -> bytes:
        return self.call(f"downloading file {file_id}", lambda: self.client.files.content(file_id).read())

    def create_job(self, model: str, training_file: str, method: Method, options: dict[str, Any]) -> FineTuningJob:
        return self.call("creating the fine-tuning job", lambda: self.client.fine_tuning.jobs.create(
            model=model, training_file=training_file, method=method, **options))

    def job(self, job_id: str) -> FineTuningJob:
        return self.call(f"reading job {job_id}", lambda: self.client.fine_tuning.jobs.retrieve(job_id))

    def events(self, job_id: str, after: str | None, limit: int) -> SyncCursorPage[FineTuningJobEvent]:
        def page() -> SyncCursorPage[FineTuningJobEvent]:
            if after is None:
                return self.client.fine_tuning.jobs.list_events(job_id, limit=limit)
            return self.client.fine_tuning.jobs.list_events(job_id, limit=limit, after=after)
        return self.call(f"listing the events of job {job_id}", page)

    def checkpoints(self, job_id: str) -> list[FineTuningJobCheckpoint]:
        return self.call(f"listing the checkpoints of job {job_id}",
                         lambda: list(self.client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)))

    def cancel(self, job_id: str) -> FineTuningJob:
        return self.call(f"cancelling job {job_id}", lambda: self.client.fine_tuning.jobs.cancel(job_id))


def connect(base_url: str | None) -> Api:
    """An Api with the key from OPENAI_API_KEY; BASE_URL None: OPENAI_BASE_URL, else the SDK's default."""
    key = read_key()
    try:
        from openai import OpenAI
    except ImportError:
        raise FineTuneError("the openai package is not installed (it comes with `make setup`: "
                            "requirements/host.txt)") from None
    return Api(OpenAI(api_key=key, base_url=base_url, max_retries=3, timeout=120.0), key)
