"""Follow a job: poll its status and print each new event once (metrics events as step and losses) on stderr.

The events endpoint lists newest first and its `after` cursor pages toward older events, so "after the last one
seen" would return old events: each poll reads from the newest page down to the newest event already printed.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console

from taustack.training.openai_ft import TERMINAL
from taustack.training.openai_ft.api import Api, TransientApiError

if TYPE_CHECKING:
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

PAGE = 100
MAX_TRANSIENT = 10  # consecutive unreachable/5xx polls before following gives up (the job itself runs on)
METRICS = ("train_loss", "valid_loss", "full_valid_loss", "train_mean_token_accuracy", "valid_mean_token_accuracy",
           "full_valid_mean_token_accuracy")


def pause(seconds: float) -> None:
    """The wait between polls (a function of its own, so tests can replace it)."""
    time.sleep(seconds)


class EventCursor:
    """Which events of one job were printed already."""

    def __init__(self, page: int = PAGE) -> None:
        self.page = page
        self.seen: set[str] = set()

    def new_events(self, api: Api, job_id: str) -> list[FineTuningJobEvent]:
        """The events not returned before, oldest first."""
        fresh: list[FineTuningJobEvent] = []
        after: str | None = None
        while True:
            page = api.events(job_id, after, self.page)
            for event in page.data:
                if event.id in self.seen:
                    return self._take(fresh)
                fresh.append(event)
            if not page.data or page.has_more is False:
                return self._take(fresh)
            after = page.data[-1].id

    def _take(self, fresh: list[FineTuningJobEvent]) -> list[FineTuningJobEvent]:
        fresh.reverse()
        self.seen.update(event.id for event in fresh)
        return fresh


def number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def event_line(event: FineTuningJobEvent) -> str:
    """One progress line: `HH:MM:SS step 3/40 train_loss=0.812 ...` for metrics, else the event's message."""
    stamp = datetime.fromtimestamp(event.created_at).strftime("%H:%M:%S")
    data = event.data if isinstance(event.data, dict) else {}
    if event.type == "metrics" and "step" in data:
        total = f"/{data['total_steps']}" if data.get("total_steps") is not None else ""
        values = " ".join(f"{name}={number(data[name])}" for name in METRICS if data.get(name) is not None)
        return f"{stamp} step {data['step']}{total} {values}".rstrip()
    level = "" if event.level == "info" else f"{event.level}: "
    return f"{stamp} {level}{' '.join(event.message.split())}"


def follow(api: Api, job_id: str, console: Console, poll_s: float) -> FineTuningJob:
    """Poll until the job is succeeded, failed or cancelled; returns its last state."""
    cursor = EventCursor()
    status: str | None = None
    transient = 0
    while True:
        try:
            job = api.job(job_id)
            events = cursor.new_events(api, job_id)
        except TransientApiError as exc:
            transient += 1
            if transient > MAX_TRANSIENT:
                raise
            console.print(f"warning: {exc} (trying again)", markup=False, highlight=False)
            pause(poll_s)
            continue
        transient = 0
        if job.status != status:
            status = job.status
            console.print(f"job {job.id}: {status}", markup=False, highlight=False)
        for event in events:
            console.print(event_line(event), markup=False, highlight=False)
        if job.status in TERMINAL:
            return job
        pause(poll_s)
