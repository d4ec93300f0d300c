"""Real llama.cpp inference behind nginx: 2 replicas of a locally made tiny model (llama-cpp-python's server, its
grammar-forced tool calls), and serving/demo.yaml as `make demo` runs it (the committed demo model, llama-server)."""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.docker.conftest import RunningStack, start_stack
from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.docker

LLAMACPP_IMAGE = "taustack/llamacpp:0.3.36"
REPLICA_HEADER = "x-taustack-replica"
TOOL = {
    "type": "function",
    "function": {
        "name": "set_mode",
        "description": "Switch the line's mode.",
        "parameters": {
            "type": "object",
            "properties": {"mode": {"type": "string", "enum": ["fast", "slow"]}, "enabled": {"type": "boolean"}},
            "required": ["mode", "enabled"],
        },
    },
}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-model")
    result = run_cli("model", "tiny", str(out), env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    return out / "tiny.gguf"


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, base_images: None) -> Iterator[RunningStack]:
    """2 llama-cpp-python replicas of a model made for this test (a named tool_choice forced by a grammar)."""
    spec = {"llamacpp": {"model": str(tiny_model), "model_name": "tiny", "server": "llama-cpp-python", "replicas": 2,
                         "threads": 1, "context_size": 4096, "port": 28080},
            "balancer": {"image": "taustack/nginx:bookworm"}}
    stack = start_stack(tmp_path_factory.mktemp("demo-stack"), "demo", spec, 28080, 2)
    print(f"\n[measure] taustack up -> ready, 2 llama.cpp replicas: {stack.up_seconds:.1f}s")
    try:
        yield stack
    finally:
        stack.cli("down", "--volumes")


def chat(stack: RunningStack, headers: dict[str, str] | None = None, **extra: object) -> httpx.Response:
    body = {"model": "tiny", "messages": [{"role": "user", "content": "Where is my order?"}], "max_tokens": 16,
            **extra}
    return httpx.post(f"{stack.url}/v1/chat/completions", json=body, headers=headers or {}, timeout=60)


def test_chat_through_nginx_spreads_over_both_replicas(demo_stack: RunningStack) -> None:
    replicas = collections.Counter()
    for _ in range(10):
        response = chat(demo_stack)
        assert response.status_code == 200, response.text
        body = response.json()
        assert isinstance(body["choices"][0]["message"]["content"], str)
        assert body["usage"]["completion_tokens"] > 0
        replicas[response.headers[REPLICA_HEADER]] += 1
    print(f"\n[measure] llama.cpp requests per replica (10 sequential): {dict(sorted(replicas.items()))}")
    assert set(replicas) == {"llamacpp-0", "llamacpp-1"}


def test_streaming_arrives_in_several_unbuffered_chunks(demo_stack: RunningStack) -> None:
    body = {"model": "tiny", "messages": [{"role": "user", "content": "Tell me a story"}], "max_tokens": 1500,
            "stream": True}
    arrivals: list[float] = []
    started = time.perf_counter()
    with httpx.stream("POST", f"{demo_stack.url}/v1/chat/completions", json=body, timeout=120) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                delta = json.loads(line[6:])["choices"][0]["delta"]
                if delta.get("content"):
                    arrivals.append(time.perf_counter() - started)
    assert len(arrivals) >= 100
    # buffered, every chunk would arrive at once at the end
    assert arrivals[0] < 0.5 * arrivals[-1], (arrivals[0], arrivals[-1])


def test_forced_tool_call_with_enum_and_boolean(demo_stack: RunningStack) -> None:
    response = chat(demo_stack, tools=[TOOL], max_tokens=64,
                    tool_choice={"type": "function", "function": {"name": "set_mode"}})
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]["function"]
    assert call["name"] == "set_mode"
    arguments = json.loads(call["arguments"])
    assert arguments["mode"] in ("fast", "slow") and isinstance(arguments["enabled"], bool)


def test_one_session_stays_on_one_replica(demo_stack: RunningStack) -> None:
    seen: dict[str, set[str]] = collections.defaultdict(set)
    for session in ("episode-a", "episode-b", "episode-c", "episode-d"):
        for _ in range(3):
            response = chat(demo_stack, {"X-Session-ID": session}, max_tokens=4)
            assert response.status_code == 200
            seen[session].add(response.headers[REPLICA_HEADER])
    assert all(len(replicas) == 1 for replicas in seen.values()), seen


def test_the_demo_command_prints_answers_and_a_table(demo_stack: RunningStack) -> None:
    result = demo_stack.cli("demo")
    assert result.returncode == 0, result.stderr
    assert "tool call" in result.stdout and "set_priority(" in result.stdout
    assert "tokens/s" in result.stdout and "llamacpp-" in result.stdout
    status = demo_stack.cli("status")
    assert status.returncode == 0, status.stderr


def test_llama_server_replicas_answer_and_stream(tmp_path: Path, tiny_model: Path, base_images: None) -> None:
    """The default server (llama-server, 2 slots each): chat and streaming through nginx."""
    spec = {"llamacpp": {"model": str(tiny_model), "model_name": "tiny", "replicas": 2, "threads": 1,
                         "context_size": 1024, "port": 28180},
            "balancer": {"image": "taustack/nginx:bookworm"}}
    stack = start_stack(tmp_path, "llama-server", spec, 28180, 2)
    try:
        replicas = {chat(stack).headers[REPLICA_HEADER] for _ in range(6)}
        assert replicas == {"llamacpp-0", "llamacpp-1"}
        body = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20, "stream": True}
        with httpx.stream("POST", f"{stack.url}/v1/chat/completions", json=body, timeout=60) as response:
            chunks = [line for line in response.iter_lines() if line.startswith("data: {")]
        assert len(chunks) >= 5
        metrics = httpx.get(f"{stack.replica_url(0)}/metrics", timeout=10)
        assert metrics.status_code == 200 and "llamacpp:requests_processing" in metrics.text
        # from each replica's /metrics, which llama-server updates just after the last chunk is sent
        for _ in range(10):
            rows = {row["service"]: row for row in json.loads(stack.cli("status", "--json").stdout)}
            if rows["llamacpp-0"]["in_flight"] == 0 and rows["llamacpp-1"]["in_flight"] == 0:
                break
            time.sleep(0.5)
        assert rows["llamacpp-0"]["in_flight"] == 0 and rows["llamacpp-1"]["in_flight"] == 0, rows
    finally:
        stack.cli("down")


def test_make_demo_serves_the_demo_model_which_copies_a_real_ticket(tmp_path: Path, base_images: None) -> None:
    """serving/demo.yaml as `make demo` runs it (the committed demo model on llama-server), then `taustack demo`:
    tau2's real ticket update_task_1, sent with tool_choice auto, comes back as its gold call (task_1 copied)."""
    spec = yaml.safe_load((ROOT / "serving" / "demo.yaml").read_text())
    spec["llamacpp"].update(model=str(ROOT / spec["llamacpp"]["model"]), port=28580)
    stack = start_stack(tmp_path, "demo-model", spec, 28580, 2)
    try:
        result = stack.cli("demo")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        made = lines.index(next(line for line in lines if line.startswith("ticket update_task_1:"))) + 1
        assert 'update_task_status({"task_id": "task_1", "status": "completed"})' in lines[made], result.stdout
        assert "right" in lines[made + 1] and "trained here from scratch" in result.stdout
    finally:
        stack.cli("down")
