"""The one readiness loop: ask until the answer is good or the time is up, and return the last answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(check: Callable[[], tuple[bool, T]], timeout_s: float, interval_s: float = 0.5) -> tuple[bool, T]:
    """Call `check` (done, answer) every `interval_s` until done or `timeout_s` has passed; at least once."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, answer = check()
        if done or time.monotonic() >= deadline:
            return done, answer
        time.sleep(interval_s)
