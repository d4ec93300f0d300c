"""The session id an agent sends as X-Session-ID: the simulation's id when taustack runs tau2, else the agent's own.

tau2 26.3 names a simulation only after it ends (a fresh uuid4), and builds the agent inside `run_task`, so taustack's
driver chooses the id first, runs the simulation inside `simulation(id)` and gives the finished simulation that id.
The agent is built on the driver's thread, so a thread-local carries the id to it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

_current = threading.local()


@contextmanager
def simulation(simulation_id: str) -> Iterator[str]:
    """Agents built on this thread inside the block use `simulation_id` as their session id."""
    previous = getattr(_current, "simulation_id", None)
    _current.simulation_id = simulation_id
    try:
        yield simulation_id
    finally:
        _current.simulation_id = previous


def new_session_id() -> str:
    """The running simulation's id, or a fresh one (an agent built by a tau2 that taustack does not drive)."""
    chosen = getattr(_current, "simulation_id", None)
    return str(chosen) if chosen else str(uuid.uuid4())
