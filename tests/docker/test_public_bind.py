"""A public bind on one specific address, with vLLM's own key, on the real Engine: 2 fake vLLM replicas (which check
their key as vLLM does) behind the real nginx, the session router and the real LiteLLM gateway, all published on the
Docker bridge's address of this host (not loopback). The balancer checks the API token and sends vLLM's key in its
place, on the direct path, through the router (X-Session-ID) and for the gateway; `up`, `status` and the gateway
probe reach the ports where they are published."""

from __future__ import annotations

import functools
import http.client
import ipaddress
import json
import socket
from collections.abc import Iterator

import httpx
import openai
import pytest
import yaml

from tests.docker.conftest import NGINX_IMAGE, RunningStack, docker, start_stack
from tests.helpers import run_cli

pytestmark = pytest.mark.docker

PORT, GATEWAY_PORT = 26800, 26000
ENGINE_KEY = "sk-engine-0a1b2c3d"  # vLLM's own key (vllm.api_key_env), in the stack's .env
CHAT = {"model": "qwen", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


@functools.cache
def bridge_address() -> str:
    """The Docker bridge's gateway (the first address of its subnet where Docker does not name it): an address of
    this host that is not loopback."""
    result = docker("network", "inspect", "bridge", "-f", "{{json .IPAM.Config}}")
    config = json.loads(result.stdout)[0]
    address = config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    with socket.socket() as probe:
        probe.bind((address, 0))  # an address of this host, or this fails
    assert not ipaddress.ip_address(address).is_loopback, address
    return address


@pytest.fixture(scope="module")
def public_stack(tmp_path_factory: pytest.TempPathFactory, fake_vllm_image: str) -> Iterator[RunningStack]:
    folder = tmp_path_factory.mktemp("public-stack")
    env_file = folder / ".env"
    env_file.write_text(f"TEST_ENGINE_KEY={ENGINE_KEY}\n")
    bind = bridge_address()
    spec = {
        "vllm": {"model": "Qwen/Qwen2.5-7B-Instruct", "served_model_name": "qwen", "image": fake_vllm_image,
                 "replicas": 2, "port": PORT, "bind": bind, "api_key_env": "TEST_ENGINE_KEY",
                 "tool_call_parser": "hermes", "max_model_len": 8192, "unlimited_memlock": False},
        "gateway": {"port": GATEWAY_PORT, "bind": bind, "models": [{"name": "qwen", "engine": "vllm",
                                                                    "model": "qwen"}]},
        "balancer": {"image": NGINX_IMAGE},  # affinity: router (2 replicas)
    }
    # `up` returns once the replicas answer at the bind and one chat went through the gateway and the balancer
    stack = start_stack(folder, "public", spec, PORT, 2, env_file, timeout=300)
    print(f"\n[measure] taustack up -> ready on {bind}, 2 fake vLLM + router + gateway: {stack.up_seconds:.1f}s")
    try:
        yield stack
    finally:
        stack.cli("down", "--volumes")


def balancer_url(path: str = "") -> str:
    return f"http://{bridge_address()}:{PORT}{path}"


def api_token(stack: RunningStack) -> str:
    assert stack.env_file is not None
    lines = stack.env_file.read_text().splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith("TAUSTACK_API_TOKEN="))


def chat(headers: dict[str, str]) -> httpx.Response:
    return httpx.post(balancer_url("/v1/chat/completions"), json=CHAT, headers=headers, timeout=30)


def test_the_balancer_takes_its_token_and_vllm_gets_its_own_key(public_stack: RunningStack) -> None:
    token = api_token(public_stack)
    answer = chat({"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"]
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": f"Bearer {ENGINE_KEY}"}):
        refused = chat(headers)
        assert refused.status_code == 401 and "bearer token" in refused.text, headers
    # the replicas do check their key (the balancer's swap is what lets the request through)
    replica = "http://127.0.0.1:26801/v1/models"
    assert httpx.get(replica, timeout=10).status_code == 401
    assert httpx.get(replica, headers={"Authorization": f"Bearer {ENGINE_KEY}"}, timeout=10).status_code == 200
    # neither secret is in a rendered file
    for rendered in public_stack.generated.rglob("*"):
        if rendered.is_file():
            text = rendered.read_text()
            assert token not in text and ENGINE_KEY not in text, rendered


def test_the_ports_are_published_on_the_bind_only(public_stack: RunningStack) -> None:
    token = {"Authorization": f"Bearer {api_token(public_stack)}"}
    assert httpx.get(balancer_url("/health"), headers=token, timeout=10).status_code == 200
    for port in (PORT, GATEWAY_PORT):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_session_turns_reach_vllm_through_the_router_with_its_key(public_stack: RunningStack) -> None:
    token = api_token(public_stack)
    replicas: dict[str, set[str]] = {}
    for session in ("episode-a", "episode-b", "episode-c"):
        for _ in range(3):
            answer = chat({"Authorization": f"Bearer {token}", "X-Session-ID": session})
            assert answer.status_code == 200, answer.text
            replicas.setdefault(session, set()).add(answer.headers["x-taustack-replica"])
    assert all(len(seen) == 1 for seen in replicas.values()), replicas
    assert chat({"Authorization": "Bearer sk-wrong", "X-Session-ID": "episode-a"}).status_code == 401
    # the balancer's log: each of these turns went to the router (port 30000), not to the replicas' fallback
    logs = public_stack.compose("logs", "--no-color", "--no-log-prefix", "vllm-balancer").stdout
    upstreams = [entry["upstream_addr"] for line in logs.splitlines() if line.startswith("{")
                 for entry in [json.loads(line)] if entry["session"] in replicas and entry["status"] == 200]
    assert len(upstreams) == 9 and all(address.endswith(":30000") for address in upstreams), upstreams


def test_the_gateway_reaches_vllm_through_the_public_balancer(public_stack: RunningStack) -> None:
    key = run_cli("key", env={"TAUSTACK_ENV_FILE": str(public_stack.env_file)}).stdout.strip()
    sdk = openai.OpenAI(base_url=f"http://{bridge_address()}:{GATEWAY_PORT}/v1", api_key=key, max_retries=0,
                        timeout=60)
    answer = sdk.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert answer.choices[0].message.content


def test_status_reaches_every_port_at_its_bind(public_stack: RunningStack) -> None:
    result = public_stack.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["service"]: row for row in json.loads(result.stdout)}
    assert all(row["ready"] for row in rows.values()), rows
    assert rows["gateway"]["version"] == f"http://{bridge_address()}:{GATEWAY_PORT}/v1"


def test_a_raw_path_reaches_vllm_as_the_balancer_read_it(public_stack: RunningStack) -> None:
    """vLLM's /metrics mount answers any path under it: a raw /metrics/../v1/models must arrive as /v1/models."""
    connection = http.client.HTTPConnection(bridge_address(), PORT, timeout=10)
    connection.request("GET", "/metrics/../v1/models", headers={"Authorization": f"Bearer {api_token(public_stack)}"})
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    assert response.status == 200 and [model["id"] for model in json.loads(body)["data"]] == ["qwen"], body[:200]


def test_a_secret_nginx_cannot_quote_stops_the_balancer_naming_its_variable(public_stack: RunningStack) -> None:
    """The balancer's own start command (as compose runs it) with an engine key holding a quote."""
    service = yaml.safe_load((public_stack.generated / "compose.yaml").read_text())["services"]["vllm-balancer"]
    script = service["command"][-1].replace("$$", "$")  # compose's interpolation of $$
    bad = 'sk-"x'
    result = docker("run", "--rm", "-e", "TAUSTACK_API_TOKEN=sk-ok", "-e", f"TAUSTACK_ENGINE_KEY={bad}", NGINX_IMAGE,
                    "sh", "-c", script, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == "TAUSTACK_ENGINE_KEY: only letters, digits and ._~+/=:@- can reach nginx"
