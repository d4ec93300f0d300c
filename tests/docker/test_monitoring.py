"""The monitoring profile on the real Engine: the exporter and a real Prometheus (Debian's package) under load,
and every PromQL query of the Grafana dashboard returning series."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.docker.conftest import NGINX_IMAGE, RunningStack, start_stack
from tests.helpers import ROOT

pytestmark = pytest.mark.docker

PROMETHEUS = "http://127.0.0.1:29090"
DASHBOARD = json.loads((ROOT / "monitoring" / "dashboards" / "taustack.json").read_text())
# the panels that name a vLLM metric are checked against real vLLM (test_vllm_stack.py)
PANELS = [panel for panel in DASHBOARD["panels"] if "vllm:" not in panel["targets"][0]["expr"]]


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory, fake_ollama_image: str) -> Iterator[RunningStack]:
    spec = {
        "ollama": {"image": fake_ollama_image, "replicas": 2, "port": 29434, "models": ["qwen2.5:0.5b"],
                   "env": {"extra": {"FAKE_TOKEN_DELAY_MS": "5"}}},
        "monitoring": {"exporter_port": 29400, "prometheus_port": 29090, "grafana": False,
                       "scrape_interval_s": 1, "probe_interval_s": 1},
        "balancer": {"image": NGINX_IMAGE},
    }
    stack = start_stack(tmp_path_factory.mktemp("monitored"), "mon", spec, 29434, 2)
    try:
        yield stack
    finally:
        stack.cli("down", "--volumes")


def load(url: str, model: str, count: int) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: client.post(f"{url}/v1/chat/completions", json=body).status_code,
                                 range(count)))
    assert statuses == [200] * count


def query(expr: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]  # type: ignore[no-any-return]


def test_every_dashboard_query_without_vllm_returns_series_under_load(monitored: RunningStack) -> None:
    deadline = time.monotonic() + 90
    missing: list[str] = []
    while time.monotonic() < deadline:
        load(monitored.url, "qwen2.5:0.5b", 40)
        missing = [panel["title"] for panel in PANELS
                   if not query(panel["targets"][0]["expr"])]
        if not missing:
            break
        time.sleep(2)
    assert missing == [], f"dashboard panels without series: {missing}"


def test_exporter_metrics_name_replicas_and_balancers(monitored: RunningStack) -> None:
    text = httpx.get("http://127.0.0.1:29400/metrics", timeout=10).text
    for needle in ('taustack_replica_ready{engine="ollama",replica="ollama-1"} 1.0',
                   'taustack_balancer_requests_total{balancer="ollama",code="2xx",replica="ollama-0"}',
                   "taustack_balancer_request_duration_seconds_bucket", 'taustack_nginx_connections{balancer='):
        assert needle in text, needle
    targets = httpx.get(f"{PROMETHEUS}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
    assert {target["labels"]["job"] for target in targets if target["health"] == "up"} >= {"taustack"}
