"""runtime/traffic.py: nginx's JSON access-log lines and stub_status page, parsed in one place."""

from __future__ import annotations

import json

from taustack.runtime.traffic import (
    AccessEntry,
    ReplicaTraffic,
    distinct_sessions,
    parse_access_line,
    parse_stub_status,
    summarize,
    summarize_lines,
)


def line(prefix: str = "", **fields: object) -> str:
    entry = {"balancer": "ollama", "replica": "ollama-0", "status": 200, "request_time": "0.250",
             "upstream_header_time": "0.010", **fields}
    return prefix + json.dumps(entry)


def test_an_access_line_is_parsed() -> None:
    assert parse_access_line(line()) == AccessEntry("ollama", "ollama-0", 200, 0.25, 0.01)


def test_the_session_field_is_the_x_session_id() -> None:
    entry = parse_access_line(line(session="ep-7"))
    assert entry == AccessEntry("ollama", "ollama-0", 200, 0.25, 0.01, "ep-7")


def test_no_session_is_empty_and_old_lines_without_the_field_still_parse() -> None:
    for value in ("", "-", None):
        entry = parse_access_line(line(session=value))
        assert entry is not None and entry.session == ""
    old = parse_access_line(line())  # logged before the format had "session"
    assert old == AccessEntry("ollama", "ollama-0", 200, 0.25, 0.01) and old.session == ""


def test_a_docker_logs_prefix_before_the_json_is_skipped() -> None:
    entry = parse_access_line(line("ollama-balancer-1  | "))
    assert entry is not None and entry.replica == "ollama-0"


def test_after_a_retry_the_last_upstream_header_time_counts() -> None:
    entry = parse_access_line(line(upstream_header_time="0.500, 0.020"))
    assert entry is not None and entry.upstream_header_s == 0.02


def test_no_header_time_is_none() -> None:
    for value in ("-", "", None):
        entry = parse_access_line(line(upstream_header_time=value))
        assert entry is not None and entry.upstream_header_s is None


def test_lines_no_replica_served_and_other_lines_are_none() -> None:
    assert parse_access_line(line(replica="")) is None  # refused or /health: no upstream
    assert parse_access_line(line(replica=None)) is None
    assert parse_access_line("2026/01/01 12:00:00 [notice] 1#1: start worker processes") is None
    assert parse_access_line("{not json") is None
    assert parse_access_line("[1, 2]") is None
    assert parse_access_line(line(status="teapot")) is None
    assert parse_access_line(line(request_time="slow")) is None


def test_missing_numbers_are_zero() -> None:
    entry = parse_access_line(json.dumps({"replica": "r"}))
    assert entry == AccessEntry("", "r", 0, 0.0, None)


def test_summarize_counts_5xx_and_takes_the_median_in_ms() -> None:
    entries = [AccessEntry("b", "a", 200, 0.1, None), AccessEntry("b", "a", 502, 0.3, None),
               AccessEntry("b", "a", 200, 0.2, None), AccessEntry("b", "c", 499, 1.0, None)]
    assert summarize(entries) == {"a": ReplicaTraffic(served=3, errors=1, p50_ms=200.0),
                                  "c": ReplicaTraffic(served=1, errors=0, p50_ms=1000.0)}
    assert summarize([]) == {}


def test_summarize_counts_distinct_sessions_per_replica() -> None:
    entries = [AccessEntry("b", "a", 200, 0.1, None, "s1"), AccessEntry("b", "a", 200, 0.1, None, "s1"),
               AccessEntry("b", "a", 200, 0.1, None, "s2"), AccessEntry("b", "a", 200, 0.1, None, ""),
               AccessEntry("b", "c", 200, 0.1, None)]
    traffic = summarize(entries)
    assert (traffic["a"].served, traffic["a"].sessions) == (4, 2)
    assert traffic["a"].session_ids == frozenset({"s1", "s2"})
    assert (traffic["c"].served, traffic["c"].sessions) == (1, 0)


def test_a_session_that_moved_replicas_counts_once_across_them() -> None:
    entries = [AccessEntry("b", "a", 200, 0.1, None, "s1"), AccessEntry("b", "c", 200, 0.1, None, "s1"),
               AccessEntry("b", "c", 200, 0.1, None, "s2")]
    traffic = summarize(entries)
    assert (traffic["a"].sessions, traffic["c"].sessions) == (1, 2)
    assert distinct_sessions(traffic.values()) == 2
    assert distinct_sessions([]) == 0


def test_summarize_lines_skips_what_is_not_a_served_request() -> None:
    lines = [line(request_time="0.1"), "garbage", line(replica=""), line(replica="ollama-1", status=500)]
    assert summarize_lines(lines) == {"ollama-0": ReplicaTraffic(1, 0, 100.0),
                                      "ollama-1": ReplicaTraffic(1, 1, 250.0)}


def test_stub_status_page() -> None:
    page = ("Active connections: 3 \nserver accepts handled requests\n 10 10 42 \n"
            "Reading: 0 Writing: 2 Waiting: 1 \n")
    assert parse_stub_status(page) == {"active": 3, "reading": 0, "writing": 2, "waiting": 1}


def test_a_page_that_is_not_stub_status_is_none() -> None:
    assert parse_stub_status("<html>502 Bad Gateway</html>") is None
    assert parse_stub_status("") is None
