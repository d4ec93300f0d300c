"""vLLM's replicated mode on the real Engine: 2 fake vLLM replicas (tests/fakes/vllm) behind the real nginx."""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.docker.conftest import NGINX_IMAGE, RunningStack, start_stack

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def vllm_stack(tmp_path_factory: pytest.TempPathFactory, fake_vllm_image: str) -> Iterator[RunningStack]:
    spec = {
        "vllm": {"model": "Qwen/Qwen2.5-7B-Instruct", "served_model_name": "qwen", "image": fake_vllm_image,
                 "replicas": 2, "port": 28800, "tool_call_parser": "hermes", "max_model_len": 8192,
                 # this machine's kernel refuses an unlimited memlock to containers; GPU hosts allow it
                 "unlimited_memlock": False},
        "balancer": {"image": NGINX_IMAGE},
    }
    stack = start_stack(tmp_path_factory.mktemp("vllm-stack"), "vllm", spec, 28800, 2)
    print(f"\n[measure] taustack up -> ready, 2 fake vLLM replicas: {stack.up_seconds:.1f}s")
    try:
        yield stack
    finally:
        stack.cli("down", "--volumes")


def chat(stack: RunningStack, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"model": "qwen", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    return httpx.post(f"{stack.url}/v1/chat/completions", json=body, headers=headers or {}, timeout=30)


def test_requests_spread_and_sessions_stick(vllm_stack: RunningStack) -> None:
    served = collections.Counter(chat(vllm_stack).headers["x-taustack-replica"] for _ in range(10))
    assert set(served) == {"vllm-0", "vllm-1"}
    sticky = {chat(vllm_stack, {"X-Session-ID": "episode-7"}).headers["x-taustack-replica"] for _ in range(5)}
    assert len(sticky) == 1


def test_tool_calls_and_models_through_the_balancer(vllm_stack: RunningStack) -> None:
    tool = {"type": "function", "function": {"name": "get_order", "parameters": {
        "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}
    body = {"model": "qwen", "messages": [{"role": "user", "content": "order?"}], "tools": [tool]}
    answer = httpx.post(f"{vllm_stack.url}/v1/chat/completions", json=body, timeout=30).json()
    assert answer["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_order"
    assert [m["id"] for m in httpx.get(f"{vllm_stack.url}/v1/models", timeout=10).json()["data"]] == ["qwen"]
    assert httpx.get(f"{vllm_stack.url}/health", timeout=10).status_code == 200


@pytest.mark.parametrize("path", ["/metrics", "/invocations", "/pause", "/tokenize", "/ping"])
def test_unprotected_vllm_paths_stay_inside(vllm_stack: RunningStack, path: str) -> None:
    method = "GET" if path in ("/metrics", "/ping") else "POST"
    assert httpx.request(method, f"{vllm_stack.url}{path}", json={}, timeout=10).status_code == 403
    # the replica itself (loopback only) still serves Prometheus its vllm: metrics
    if path == "/metrics":
        metrics = httpx.get(f"{vllm_stack.replica_url(0)}/metrics", timeout=10).text
        assert "vllm:num_requests_running" in metrics and "vllm:kv_cache_usage_perc" in metrics


def test_status_rows_for_vllm(vllm_stack: RunningStack) -> None:
    result = vllm_stack.cli("status")
    assert result.returncode == 0, result.stderr
    assert "vllm-0" in result.stderr and "vllm-balancer" in result.stderr
    rows = {row["service"]: row for row in json.loads(vllm_stack.cli("status", "--json").stdout)}
    assert isinstance(rows["vllm-0"]["in_flight"], int)  # vllm:num_requests_running
