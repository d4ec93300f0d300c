"""The one readiness loop: it stops on the first good answer, or at the deadline with the last one."""

from __future__ import annotations

from taustack.runtime.polling import poll_until


def test_stops_on_the_first_good_answer() -> None:
    answers = iter([(False, "a"), (False, "b"), (True, "c"), (True, "d")])
    assert poll_until(lambda: next(answers), timeout_s=10, interval_s=0) == (True, "c")


def test_gives_the_last_answer_when_the_time_is_up() -> None:
    calls: list[int] = []

    def check() -> tuple[bool, int]:
        calls.append(len(calls))
        return False, len(calls)

    done, answer = poll_until(check, timeout_s=0, interval_s=0)
    assert not done and answer == 1 and len(calls) == 1
