"""Load from worker threads for the duration of a with-block: started on entry, told to stop and joined on exit.
The load tests (episodes through the session router, traffic while a host goes) build on it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

W = TypeVar("W", bound="Workers")


class Workers:
    """Each (target, index) runs as `target(index)` in its own thread until it returns; `stop` is set on exit and
    every thread waited for up to `join_timeout` seconds (a request in flight is let finish and recorded)."""

    def __init__(self, targets: Sequence[tuple[Callable[[int], None], int]], join_timeout: float) -> None:
        self.stop = threading.Event()
        self.join_timeout = join_timeout
        self.threads = [threading.Thread(target=target, args=(index,), daemon=True) for target, index in targets]

    def __enter__(self: W) -> W:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=self.join_timeout)
