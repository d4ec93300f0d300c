"""The rendered stack on the real Docker Engine: 3 fake Ollama replicas behind the real nginx."""

from __future__ import annotations

import collections
import ipaddress
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import yaml

from tests.docker.conftest import RunningStack, docker

pytestmark = pytest.mark.docker

REPLICA_HEADER = "x-taustack-replica"
CHAT = {"model": "qwen2.5:0.5b", "messages": [{"role": "user", "content": "hi"}], "stream": False}


def chat(client: httpx.Client, stack: RunningStack, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post(f"{stack.url}/api/chat", json=CHAT, headers=headers or {}, timeout=30)


def test_up_made_every_replica_ready_with_the_model(ollama_stack: RunningStack) -> None:
    result = ollama_stack.cli("status")
    assert result.returncode == 0, result.stderr
    for index in range(3):
        assert f"ollama-{index}" in result.stderr
    for index in range(ollama_stack.replicas):
        tags = httpx.get(f"{ollama_stack.replica_url(index)}/api/tags", timeout=5).json()
        assert "qwen2.5:0.5b" in [model["name"] for model in tags["models"]]


def test_requests_spread_over_every_replica(ollama_stack: RunningStack) -> None:
    with httpx.Client() as client, ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: chat(client, ollama_stack), range(60)))
    assert all(response.status_code == 200 for response in responses)
    counts = collections.Counter(response.headers[REPLICA_HEADER] for response in responses)
    print(f"\n[measure] requests per replica (60 requests, 6 concurrent, least_conn): {dict(sorted(counts.items()))}")
    assert set(counts) == {"ollama-0", "ollama-1", "ollama-2"}
    assert min(counts.values()) >= 5


def test_one_session_id_always_reaches_one_replica(ollama_stack: RunningStack) -> None:
    seen: dict[str, set[str]] = collections.defaultdict(set)
    with httpx.Client() as client:
        for session in [f"episode-{n}" for n in range(12)]:
            for _ in range(5):
                response = chat(client, ollama_stack, {"X-Session-ID": session})
                assert response.status_code == 200
                seen[session].add(response.headers[REPLICA_HEADER])
    assert all(len(replicas) == 1 for replicas in seen.values()), seen
    assert len(set().union(*seen.values())) >= 2, "sessions should still spread over replicas"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chat", {**CHAT, "stream": True}),
        ("/v1/chat/completions", {**CHAT, "stream": True}),
    ],
)
def test_streams_arrive_unbuffered(ollama_stack: RunningStack, path: str, body: dict[str, object]) -> None:
    headers = {"X-Fake-Token-Delay-Ms": "150", "X-Fake-Tokens": "8"}
    arrivals: list[float] = []
    started = time.perf_counter()
    with httpx.Client(timeout=30) as client, client.stream("POST", ollama_stack.url + path, json=body,
                                                           headers=headers) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.strip():
                arrivals.append(time.perf_counter() - started)
    assert len(arrivals) >= 8
    # 8 tokens 150 ms apart: buffered, everything would land together at the end
    assert arrivals[0] < 0.6, arrivals
    assert arrivals[-1] - arrivals[0] > 0.7, arrivals


def test_openai_tool_calls_pass_through(ollama_stack: RunningStack) -> None:
    tool = {"type": "function", "function": {"name": "get_order", "parameters": {
        "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}
    body = {**CHAT, "tools": [tool]}
    response = httpx.post(f"{ollama_stack.url}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 200
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]["function"]
    assert call["name"] == "get_order" and isinstance(json.loads(call["arguments"]), dict)


@pytest.mark.parametrize("endpoint", ["pull", "push", "delete", "create", "copy"])
def test_model_management_is_refused_at_the_balancer(ollama_stack: RunningStack, endpoint: str) -> None:
    response = httpx.post(f"{ollama_stack.url}/api/{endpoint}", json={"model": "x"}, timeout=10)
    assert response.status_code == 403
    assert "use: taustack pull MODEL" in response.json()["error"]


def test_pull_reaches_every_replica(ollama_stack: RunningStack) -> None:
    result = ollama_stack.cli("pull", "llama3.2:1b")
    assert result.returncode == 0, result.stderr
    for index in range(ollama_stack.replicas):
        tags = httpx.get(f"{ollama_stack.replica_url(index)}/api/tags", timeout=5).json()
        names = [model["name"] for model in tags["models"]]
        assert "llama3.2:1b" in names
    unknown = ollama_stack.cli("pull", "not a model")
    assert unknown.returncode == 1 and unknown.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_a_crashing_replica_costs_no_request(ollama_stack: RunningStack) -> None:
    """Kill one replica's engine process under load: retried elsewhere, back within 15 s."""
    errors: list[str] = []
    served: collections.Counter[str] = collections.Counter()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client() as client:
            while not stop.is_set():
                try:
                    response = chat(client, ollama_stack, {"X-Fake-Latency-Ms": "150"})
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                    continue
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                else:
                    served[response.headers[REPLICA_HEADER]] += 1

    workers = [threading.Thread(target=load) for _ in range(6)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.5)
        with pytest.raises(httpx.HTTPError):
            httpx.post(f"{ollama_stack.replica_url(1)}/-/crash", timeout=5)
        crashed_at = time.monotonic()
        back_after = None
        while time.monotonic() - crashed_at < 30:
            try:
                if httpx.get(f"{ollama_stack.replica_url(1)}/api/version", timeout=1).status_code == 200:
                    back_after = time.monotonic() - crashed_at
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    print(f"\n[measure] crash under load: {sum(served.values())} requests served {dict(served)}, "
          f"{len(errors)} errors, replica back after {back_after}s")
    assert errors == []
    assert back_after is not None and back_after < 15
    assert sum(served.values()) > 20


def test_status_json_logs_and_warm(ollama_stack: RunningStack) -> None:
    status = ollama_stack.cli("status", "--json")
    assert status.returncode == 0, status.stderr
    rows = {row["service"]: row for row in json.loads(status.stdout)}
    assert set(rows) == {"ollama-0", "ollama-1", "ollama-2", "ollama-balancer", "ollama-router"}
    assert all(row["ready"] for row in rows.values())
    assert "qwen2.5:0.5b" in rows["ollama-1"]["models_on_disk"] and rows["ollama-1"]["probe_ms"] > 0
    served_before = sum(rows[f"ollama-{i}"]["served_recent"] for i in range(3))
    with httpx.Client() as client:
        assert [chat(client, ollama_stack).status_code for _ in range(6)] == [200] * 6
    # one stream still being answered while status looks
    slow = threading.Thread(target=lambda: httpx.post(
        f"{ollama_stack.url}/api/chat", timeout=30, headers={"X-Fake-Token-Delay-Ms": "400"},
        json={"model": "qwen2.5:0.5b", "messages": [{"role": "user", "content": "hi"}], "stream": True}))
    slow.start()
    time.sleep(1.0)  # nginx flushes its access log line when a request ends: the 6 are in by now
    rows = {row["service"]: row for row in json.loads(ollama_stack.cli("status", "--json").stdout)}
    slow.join()
    assert sum(rows[f"ollama-{i}"]["served_recent"] for i in range(3)) >= served_before + 6
    assert all(rows[f"ollama-{i}"]["p50_ms_recent"] > 0 for i in range(3))
    assert rows["ollama-balancer"]["in_flight"] == 1
    logs = ollama_stack.cli("logs", "ollama-balancer", "--tail", "50")
    assert logs.returncode == 0 and '"balancer":"ollama"' in logs.stdout
    unknown = ollama_stack.cli("logs", "nope")
    assert unknown.returncode == 1 and "no service 'nope'" in unknown.stderr
    warmed = ollama_stack.cli("up", "--warm", "--timeout", "120")
    assert warmed.returncode == 0, warmed.stderr
    for index in range(ollama_stack.replicas):
        loaded = httpx.get(f"{ollama_stack.replica_url(index)}/api/ps", timeout=5).json()["models"]
        assert "qwen2.5:0.5b" in [model["name"] for model in loaded]


def test_recreated_replicas_are_reached_through_the_balancer(ollama_stack: RunningStack) -> None:
    """A changed spec recreates the replicas (new addresses): nginx must follow, and `up` must say ready."""
    spec = yaml.safe_load(ollama_stack.stack_file.read_text())
    spec["ollama"]["env"]["extra"]["FAKE_TOKENS"] = "4"
    spec["balancer"]["read_timeout_s"] = 1234
    ollama_stack.stack_file.write_text(yaml.safe_dump(spec))
    result = ollama_stack.cli("up", "--timeout", "120")
    assert result.returncode == 0, result.stderr
    # a rewritten nginx.conf is a new file: the balancer must be recreated to see it
    conf = ollama_stack.compose("exec", "-T", "ollama-balancer", "cat", "/etc/nginx/nginx.conf").stdout
    assert "proxy_read_timeout 1234s;" in conf
    with httpx.Client() as client:
        responses = [chat(client, ollama_stack) for _ in range(6)]
    assert [response.status_code for response in responses] == [200] * 6
    assert {response.headers[REPLICA_HEADER] for response in responses} == {"ollama-0", "ollama-1", "ollama-2"}


def addresses(stack: RunningStack, services: list[str]) -> dict[str, str]:
    ids = stack.compose("ps", "-q", *services).stdout.split()
    shown = docker("inspect", "-f", "{{index .Config.Labels \"com.docker.compose.service\"}} "
                   "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", *ids).stdout
    return dict(line.split() for line in shown.splitlines())  # type: ignore[misc]


def test_replicas_back_on_each_others_addresses_are_reached(ollama_stack: RunningStack) -> None:
    """Two replicas stopped and started in the other order come back on each other's addresses (Docker hands the
    freed ones out again): nginx, which resolved the names at its start, must follow (its watcher reloads it)."""
    pair = ["ollama-0", "ollama-1"]
    before = addresses(ollama_stack, pair)
    ollama_stack.compose("stop", "-t", "1", *pair)
    # the freed addresses go out lowest first: the replica that had the higher one takes the lower
    for service in sorted(pair, key=lambda name: ipaddress.ip_address(before[name]), reverse=True):
        ollama_stack.compose("start", service)
    after = addresses(ollama_stack, pair)
    assert after == {"ollama-0": before["ollama-1"], "ollama-1": before["ollama-0"]}, (before, after)
    started, seen = time.monotonic(), set()
    with httpx.Client() as client:
        while seen != {"ollama-0", "ollama-1", "ollama-2"} and time.monotonic() - started < 20:
            response = chat(client, ollama_stack)
            assert response.status_code == 200, response.text[:300]
            seen.add(response.headers[REPLICA_HEADER])
    print(f"\n[measure] replicas swapped addresses: every replica served again {time.monotonic() - started:.1f}s "
          "after they started")
    assert seen == {"ollama-0", "ollama-1", "ollama-2"}, seen


def test_status_exits_3_and_health_fails_when_replicas_are_down(ollama_stack: RunningStack) -> None:
    assert httpx.get(f"{ollama_stack.url}/health", timeout=10).status_code == 200
    ollama_stack.compose("stop", "-t", "1", "ollama-2")
    try:
        result = ollama_stack.cli("status")
        assert result.returncode == 3
        assert result.stderr.strip().splitlines()[-1] == "Error: not ready: ollama-2"
        assert httpx.get(f"{ollama_stack.url}/health", timeout=10).status_code == 200
        ollama_stack.compose("stop", "-t", "1", "ollama-0", "ollama-1")
        assert httpx.get(f"{ollama_stack.url}/health", timeout=20).status_code in (502, 503)
    finally:
        ollama_stack.compose("start", "ollama-0", "ollama-1", "ollama-2")
