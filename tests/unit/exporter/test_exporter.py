"""The exporter's parts without Docker: access-log lines become per-replica metrics; stub_status is parsed."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from taustack.exporter.accesslog import AccessLogMetrics, BalancerMetrics
from taustack.runtime.traffic import parse_stub_status, summarize_lines


def line(**fields: object) -> str:
    entry = {"balancer": "ollama", "status": 200, "request_time": 0.12, "replica": "ollama-0",
             "upstream_header_time": "0.010"}
    entry.update(fields)
    return json.dumps(entry) + "\n"


def test_access_log_lines_become_counts_and_histograms(tmp_path: Path) -> None:
    log = tmp_path / "ollama-access.log"
    registry = CollectorRegistry()
    metrics = AccessLogMetrics(log, BalancerMetrics(registry))
    AccessLogMetrics(tmp_path / "vllm-access.log", metrics.metrics)  # a second balancer shares the families
    assert metrics.poll() == 0  # no file yet
    log.write_text(line() + line(replica="ollama-1", status=502, upstream_header_time="-") + line(replica=""))
    with log.open("a") as handle:
        handle.write('{"partial": ')  # a line still being written is left for the next poll
    assert metrics.poll() == 3
    text = generate_latest(registry).decode()
    assert 'taustack_balancer_requests_total{balancer="ollama",code="2xx",replica="ollama-0"} 1.0' in text
    assert 'taustack_balancer_requests_total{balancer="ollama",code="5xx",replica="ollama-1"} 1.0' in text
    assert 'taustack_balancer_request_duration_seconds_count{balancer="ollama",replica="ollama-0"} 1.0' in text
    log.write_text(line())  # replaced (rotated): read again from the start
    assert metrics.poll() == 1
    assert 'code="2xx",replica="ollama-0"} 2.0' in generate_latest(registry).decode()


def test_requests_with_a_session_id_are_counted_per_replica(tmp_path: Path) -> None:
    log = tmp_path / "ollama-access.log"
    registry = CollectorRegistry()
    metrics = AccessLogMetrics(log, BalancerMetrics(registry))
    log.write_text(line(session="ep-1") + line(session="ep-1") + line(replica="ollama-1", session="ep-1")
                   + line(session="") + line(session="-") + line())  # the last: an old line, no "session"
    assert metrics.poll() == 6
    text = generate_latest(registry).decode()
    assert 'taustack_balancer_session_requests_total{balancer="ollama",replica="ollama-0"} 2.0' in text
    assert 'taustack_balancer_session_requests_total{balancer="ollama",replica="ollama-1"} 1.0' in text
    assert 'taustack_balancer_requests_total{balancer="ollama",code="2xx",replica="ollama-0"} 5.0' in text


def test_stub_status_is_parsed() -> None:
    text = "Active connections: 3 \nserver accepts handled requests\n 10 10 20 \nReading: 0 Writing: 2 Waiting: 1 \n"
    assert parse_stub_status(text) == {"active": 3, "reading": 0, "writing": 2, "waiting": 1}
    assert parse_stub_status("<html>502 Bad Gateway</html>") is None


def test_recent_traffic_per_replica_from_log_lines() -> None:
    lines = [
        line(replica="ollama-0", request_time=0.1),
        line(replica="ollama-0", request_time=0.3),
        line(replica="ollama-0", request_time=0.2, status=502),
        line(replica="ollama-1", request_time=1.5),
        line(replica="", status=403),  # refused at the balancer: no replica
        "2026/11/28 20:00:00 [warn] 1#1: an nginx error line\n",
        '{"truncated": ',
    ]
    traffic = summarize_lines(lines)
    assert set(traffic) == {"ollama-0", "ollama-1"}
    assert (traffic["ollama-0"].served, traffic["ollama-0"].errors, traffic["ollama-0"].p50_ms) == (3, 1, 200.0)
    assert (traffic["ollama-1"].served, traffic["ollama-1"].errors, traffic["ollama-1"].p50_ms) == (1, 0, 1500.0)
    assert (traffic["ollama-0"].sessions, traffic["ollama-1"].sessions) == (0, 0)  # no "session" in these lines


def test_gauge_sum_reads_an_engines_metrics_page() -> None:
    import asyncio

    import httpx

    from taustack.engines.base import gauge_sum

    page = ('# HELP vllm:num_requests_running Number of requests.\n# TYPE vllm:num_requests_running gauge\n'
            'vllm:num_requests_running{engine="0",model_name="qwen"} 3.0\n'
            'vllm:num_requests_running{engine="1",model_name="qwen"} 2.0\nvllm:num_requests_running_total 9\n')

    async def read(name: str, status: int = 200) -> int | None:
        transport = httpx.MockTransport(lambda request: httpx.Response(status, text=page))
        async with httpx.AsyncClient(transport=transport) as client:
            return await gauge_sum(client, "http://replica/metrics", name)

    assert asyncio.run(read("vllm:num_requests_running")) == 5
    assert asyncio.run(read("llamacpp:requests_processing")) is None
    assert asyncio.run(read("vllm:num_requests_running", 404)) is None
