"""What the balancers saw: nginx's JSON access-log lines and stub_status counts, parsed in one place.

The exporter turns them into Prometheus metrics; `taustack status` into served requests, recent p50
latency, sessions (distinct X-Session-IDs) and in-flight requests per replica.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

STUB_RE = re.compile(r"Active connections:\s*(\d+).*?Reading:\s*(\d+)\s*Writing:\s*(\d+)\s*Waiting:\s*(\d+)", re.S)


@dataclass(frozen=True)
class AccessEntry:
    """One proxied request, as nginx logged it when it ended."""

    balancer: str
    replica: str
    status: int
    request_time_s: float
    upstream_header_s: float | None
    session: str = ""  # the request's X-Session-ID; "" without one (and in lines logged before the field)


def parse_access_line(line: str) -> AccessEntry | None:
    """A `taustack_json` log line; None for other lines and for requests no replica served (refused, health)."""
    start = line.find("{")
    if start < 0:
        return None
    try:
        entry = json.loads(line[start:])
    except ValueError:
        return None
    if not isinstance(entry, dict) or not entry.get("replica"):
        return None
    # after a retry nginx lists every upstream tried: the last one answered
    header = str(entry.get("upstream_header_time") or "").split(",")[-1].strip()
    try:
        return AccessEntry(
            balancer=str(entry.get("balancer", "")),
            replica=str(entry["replica"]),
            status=int(entry.get("status") or 0),
            request_time_s=float(entry.get("request_time") or 0),
            upstream_header_s=float(header) if header and header != "-" else None,
            session=session_id(entry.get("session")),
        )
    except ValueError:
        return None


def session_id(value: object) -> str:
    """The log's "session" field: "" when absent, empty or nginx's "-"."""
    text = str(value or "").strip()
    return "" if text == "-" else text


def parse_stub_status(text: str) -> dict[str, int] | None:
    """nginx's stub_status page as {"active", "reading", "writing", "waiting"}; None if it is not one."""
    match = STUB_RE.search(text)
    if not match:
        return None
    active, reading, writing, waiting = (int(value) for value in match.groups())
    return {"active": active, "reading": reading, "writing": writing, "waiting": waiting}


@dataclass(frozen=True)
class ReplicaTraffic:
    """Requests a replica served in a recent window, through its balancer."""

    served: int
    errors: int
    p50_ms: float | None
    session_ids: frozenset[str] = frozenset()  # the X-Session-IDs it served (kept to count them across replicas)

    @property
    def sessions(self) -> int:
        """Distinct sessions (non-empty X-Session-IDs) the replica served."""
        return len(self.session_ids)


def summarize(entries: Iterable[AccessEntry]) -> dict[str, ReplicaTraffic]:
    """Per replica: requests answered, of them 5xx, the median time from request to last byte, and sessions."""
    times: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    sessions: dict[str, set[str]] = {}
    for entry in entries:
        times.setdefault(entry.replica, []).append(entry.request_time_s)
        errors[entry.replica] = errors.get(entry.replica, 0) + (1 if entry.status >= 500 else 0)
        replica_sessions = sessions.setdefault(entry.replica, set())
        if entry.session:
            replica_sessions.add(entry.session)
    return {
        replica: ReplicaTraffic(served=len(values), errors=errors[replica],
                                p50_ms=round(statistics.median(values) * 1000, 1),
                                session_ids=frozenset(sessions[replica]))
        for replica, values in times.items()
    }


def distinct_sessions(traffic: Iterable[ReplicaTraffic]) -> int:
    """Sessions over several replicas (a balancer's): one that moved between replicas counts once."""
    ids: set[str] = set()
    for replica in traffic:
        ids |= replica.session_ids
    return len(ids)


def summarize_lines(lines: Iterable[str]) -> dict[str, ReplicaTraffic]:
    return summarize(entry for entry in map(parse_access_line, lines) if entry is not None)
