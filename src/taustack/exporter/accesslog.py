"""Per-replica request counts, status classes, session-carrying requests and latencies, read from nginx's JSON
access log."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram

from taustack.runtime.traffic import parse_access_line

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class BalancerMetrics:
    """The taustack_balancer_* families, registered once and fed by every balancer's log."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["balancer", "replica"]
        self.requests = Counter("taustack_balancer_requests", "Requests through a balancer, by replica and status",
                                [*labels, "code"], registry=registry)
        self.session_requests = Counter("taustack_balancer_session_requests",
                                        "Requests through a balancer that carried an X-Session-ID, by replica",
                                        labels, registry=registry)
        self.duration = Histogram("taustack_balancer_request_duration_seconds",
                                  "Time from a request's first byte to its last answer byte, at the balancer",
                                  labels, buckets=BUCKETS, registry=registry)
        self.upstream_header = Histogram("taustack_balancer_upstream_header_seconds",
                                         "Time until the replica's first answer byte (first token when streaming)",
                                         labels, buckets=BUCKETS, registry=registry)


class AccessLogMetrics:
    """Follows one log file (by offset; a truncated or replaced file is read from its start)."""

    def __init__(self, path: Path, metrics: BalancerMetrics) -> None:
        self.path = path
        self.metrics = metrics
        self.offset = 0
        self.inode = 0

    def poll(self) -> int:
        """Read what was appended since the last poll; returns the lines read."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return 0
        if stat.st_ino != self.inode or stat.st_size < self.offset:
            self.inode, self.offset = stat.st_ino, 0
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        lines = complete.decode("utf-8", errors="replace").splitlines()
        for line in lines:
            self.observe(line)
        return len(lines)

    def observe(self, line: str) -> None:
        entry = parse_access_line(line)
        if entry is None:
            return
        labels = (entry.balancer, entry.replica)
        self.metrics.requests.labels(*labels, f"{entry.status // 100}xx").inc()
        if entry.session:
            self.metrics.session_requests.labels(*labels).inc()
        self.metrics.duration.labels(*labels).observe(entry.request_time_s)
        if entry.upstream_header_s is not None:
            self.metrics.upstream_header.labels(*labels).observe(entry.upstream_header_s)
