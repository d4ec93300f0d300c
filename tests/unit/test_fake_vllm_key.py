"""The fake vLLM guards /v1 with its key as vLLM's middleware does (what the public-bind Docker test relies on to
fail when a balancer sends the wrong Authorization): 401 without it, /health and /metrics open."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import ROOT, start_server, stop_server

FAKE_VLLM = ROOT / "tests" / "fakes" / "vllm" / "fake_vllm.py"
KEY = "sk-engine-key"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["flag", "environment"])
def fake_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The fake with its key from --api-key, or from VLLM_API_KEY as vLLM reads it."""
    port = free_port()
    argv = [sys.executable, str(FAKE_VLLM), "Qwen/Qwen2.5-7B-Instruct", "--served-model-name", "qwen",
            "--host", "127.0.0.1", "--port", str(port)]
    env = {"FAKE_TOKEN_DELAY_MS": "0"}
    if request.param == "flag":
        argv += ["--api-key", KEY]
    else:
        env["VLLM_API_KEY"] = KEY
    url = f"http://127.0.0.1:{port}"
    server = start_server(argv, f"{url}/health", env=env)
    try:
        yield url
    finally:
        stop_server(server)


def test_v1_needs_the_key_and_the_rest_stays_open(fake_url: str) -> None:
    chat = {"model": "qwen", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": KEY},
                    {"Authorization": f"Basic {KEY}"}):
        refused = httpx.post(f"{fake_url}/v1/chat/completions", json=chat, headers=headers, timeout=10)
        assert (refused.status_code, refused.json()) == (401, {"error": "Unauthorized"}), headers
        assert httpx.get(f"{fake_url}/v1/models", headers=headers, timeout=10).status_code == 401
    for scheme in ("Bearer", "bearer"):
        headers = {"Authorization": f"{scheme} {KEY}"}
        assert httpx.post(f"{fake_url}/v1/chat/completions", json=chat, headers=headers, timeout=10).status_code == 200
    for path in ("/health", "/version", "/metrics", "/metrics/anything"):
        assert httpx.get(f"{fake_url}{path}", timeout=10).status_code == 200, path
    assert "vllm:num_requests_running" in httpx.get(f"{fake_url}/metrics/anything", timeout=10).text
