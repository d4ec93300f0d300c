"""Tool-call ids of one example: tau2's id kept where it is the first of its kind, the others named, results paired.

tau2's `ToolCall.id` defaults to "" and a model may repeat an id; tau2 answers an assistant turn's calls in call
order, each result carrying its call's id. So a result answers the earliest unanswered call of the open turn with
the same tau2 id, and every call gets an id that is unique in the example and that its result carries too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def tau2_id(value: Any) -> str:
    """The id tau2 stored for a call or a result; missing or null reads as tau2's default, ""."""
    return "" if value is None else str(value)


class CallIds:
    """Names the calls of one simulation and pairs the open turn's calls with their results."""

    def __init__(self, reserved: Iterable[str]) -> None:
        self._reserved = set(reserved)  # every non-empty tau2 id of the simulation: a new name never takes one
        self._used: set[str] = set()
        self._next: dict[str, int] = {}  # per base: the suffix to try next, so naming ends and stays linear
        self._open: list[tuple[str, str]] = []  # (tau2 id, example id or "" if removed) of unanswered calls

    def name(self, original: str) -> tuple[str, str | None]:
        """The example id of a new call of the open turn, and the repair it took (None: tau2's id kept)."""
        if original and original not in self._used:
            call_id, repair = original, None
        else:
            call_id = self._fresh(original or "call")
            repair = "duplicate_call_id_renamed" if original else "empty_call_id_named"
        self._used.add(call_id)
        self._open.append((original, call_id))
        return call_id, repair

    def skip(self, original: str) -> None:
        """A call left out of the example keeps its place, so its result is not taken for a later call's."""
        self._open.append((original, ""))

    def answer(self, original: str) -> str | None:
        """The example id of the earliest unanswered call of the open turn with this tau2 id, now answered ("" when
        that call was left out); None when no such call is open."""
        for index, (candidate, call_id) in enumerate(self._open):
            if candidate == original:
                del self._open[index]
                return call_id
        return None

    def close_turn(self) -> None:
        """A non-tool message follows: the open turn's calls can no longer be answered."""
        self._open = []

    def _fresh(self, base: str) -> str:
        suffix = self._next.get(base, 1)
        while f"{base}_{suffix}" in self._used or f"{base}_{suffix}" in self._reserved:
            suffix += 1
        self._next[base] = suffix + 1
        return f"{base}_{suffix}"
