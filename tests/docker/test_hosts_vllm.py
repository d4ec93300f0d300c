"""One vLLM model across two simulated hosts (real vLLM, the CPU image): pipeline parallel over a head on host a and
a --headless follower on host b gives the greedy tokens of the same model on one host; status shows the group as one
row with its hosts; the engine process killed inside the follower's container takes the whole group down and the
watcher and Docker's restart policy bring it back together, the front door answering a clean 503 meanwhile; the
group's own ports listen on the private address (torch's rendezvous on every address, as documented)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.docker.conftest import NGINX_IMAGE, start_stack, vllm_section
from tests.docker.hosts import HostStack, SimHosts, host_stack, running
from tests.docker.test_hosts_llamacpp import listeners
from tests.docker.test_vllm_cpu import greedy

pytestmark = pytest.mark.docker

PORT, SINGLE_PORT, MASTER_PORT = 28700, 28750, 29601
KEY_ENV = "TAUSTACK_TEST_VLLM_KEY"


@pytest.fixture(scope="module")
def single_host_tokens(tmp_path_factory: pytest.TempPathFactory, vllm_cpu_image: str, vllm_cache: Path) -> list[str]:
    """The reference: the same model and settings on one host (this machine), one process; taken down at once."""
    spec = {"vllm": vllm_section(vllm_cache, replicas=1, port=SINGLE_PORT, tool_check="warn"),
            "balancer": {"image": NGINX_IMAGE}}
    stack = start_stack(tmp_path_factory.mktemp("hosts-vllm-single"), "hosts-vllm-single", spec, SINGLE_PORT, 1,
                        timeout=900)
    try:
        return greedy(stack.url)
    finally:
        stack.cli("down", "--volumes")


def group_spec(hosts: SimHosts, cache: Path) -> dict[str, Any]:
    a = hosts["a"]
    section = vllm_section(cache, pipeline_parallel=2, nodes=2, hosts=["a", "b"], port=PORT, bind=a.address,
                           tool_check="warn", master_port=MASTER_PORT, api_key_env=KEY_ENV)
    return {"hosts": {"a": a.spec(), "b": hosts["b"].spec()}, "vllm": section, "balancer": {"image": NGINX_IMAGE}}


@pytest.fixture(scope="module")
def vllm_group(tmp_path_factory: pytest.TempPathFactory, sim_hosts: SimHosts, vllm_cache: Path,
               single_host_tokens: list[str]) -> Iterator[HostStack]:
    stack = host_stack(tmp_path_factory.mktemp("hosts-vllm"), "hosts-vllm", group_spec(sim_hosts, vllm_cache),
                       sim_hosts)
    stack.env_file.write_text(f"{KEY_ENV}=sk-test-vllm-engine-key\n")
    yield from running(stack, "vLLM PP=2, a head and a follower; the 3 GB image sent to both", timeout=900)


def url(stack: HostStack) -> str:
    return f"http://{stack.hosts['a'].address}:{PORT}"


def test_pipeline_parallel_across_hosts_gives_the_single_host_tokens(vllm_group: HostStack,
                                                                      single_host_tokens: list[str]) -> None:
    stack = vllm_group
    assert greedy(url(stack), {"Authorization": f"Bearer {stack.token()}"}) == single_host_tokens
    rows = {row["service"]: row for row in json.loads(stack.cli("status", "--json").stdout)}
    assert rows["vllm-0@a+b"]["ready"], rows
    follower = stack.hosts["b"].docker("inspect", "--format", "{{.HostConfig.NetworkMode}} {{.HostConfig.IpcMode}}",
                                       f"{stack.project}-vllm-0-node1-1").stdout.split()
    assert follower == ["host", "host"]


def test_the_groups_ports_listen_on_the_private_address_and_the_gate_wants_the_token(vllm_group: HostStack) -> None:
    """vLLM's unauthenticated paths (/invocations, /metrics) are behind the gate's token; its inter-node ports bind
    each host's private address, except torch's rendezvous (master_port), which binds every address."""
    stack = vllm_group
    for name, other in (("a", "b"), ("b", "a")):
        host = stack.hosts[name]
        for address, port, process in listeners(stack, name):
            if process == "sshd":
                continue
            if port in (PORT, PORT + 1):  # the front door, the head's gate
                for path in ("/invocations", "/metrics", "/v1/models", "/health"):
                    code = stack.hosts[other].sh(f"curl -s -o /dev/null -w '%{{http_code}}' -m 10 "
                                                 f"http://{host.address}:{port}{path}").stdout
                    assert code == "401", (path, code)
            elif port == MASTER_PORT:
                assert name == "a", (address, port, process)
            else:
                assert address == host.address, (name, address, port, process)


def test_a_killed_follower_engine_brings_the_whole_group_back(vllm_group: HostStack,
                                                              single_host_tokens: list[str]) -> None:
    stack = vllm_group
    a, b = stack.hosts["a"], stack.hosts["b"]
    head, follower = f"{stack.project}-vllm-0-1", f"{stack.project}-vllm-0-node1-1"

    def started_at(host: Any, container: str) -> str:
        return str(host.docker("inspect", "--format", "{{.State.StartedAt}}", container).stdout.strip())

    before = started_at(a, head), started_at(b, follower)
    headers = {"Authorization": f"Bearer {stack.token()}"}
    body = {"model": "tiny", "prompt": "hi", "max_tokens": 4, "temperature": 0}
    killed = time.monotonic()
    b.docker("exec", follower, "sh", "-c", "kill -9 $(cat /tmp/taustack-engine.pid)")
    codes: list[int] = []
    back = None
    with httpx.Client(timeout=30, trust_env=False) as client:
        while time.monotonic() - killed < 600:
            try:
                codes.append(client.post(f"{url(stack)}/v1/completions", json=body, headers=headers).status_code)
            except httpx.HTTPError:
                codes.append(0)
            if codes[-1] == 200 and set(codes) != {200}:  # answering again after the group went down
                back = time.monotonic() - killed
                break
            time.sleep(1)
    assert back is not None, codes[-20:]
    after = started_at(a, head), started_at(b, follower)
    assert after[0] != before[0] and after[1] != before[1]  # both members restarted: the group came back whole
    outage = codes[codes.index(next(code for code in codes if code != 200)):-1]
    assert set(outage) == {503}, codes  # meanwhile the front door said so cleanly
    assert greedy(url(stack), headers) == single_host_tokens
    print(f"\n[measure] vLLM group (PP=2, 2 hosts): follower's engine killed -> answering again in {back:.0f}s; "
          f"{len(outage)} requests meanwhile, all 503")
