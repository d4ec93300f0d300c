"""One stack file across two simulated hosts (tests/docker/hosts.py), driven over ssh like real ones: llama.cpp
replicas on both behind one front door on host a (nginx, the session router, the gateway, the exporter and
Prometheus scraping both hosts), every published port tried without the token from the other host, and an unknown
host key refused before anything starts."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.docker.hosts import (
    GATEWAY_PORT,
    LLAMA_PORT,
    PROMETHEUS_PORT,
    HostStack,
    SimHosts,
    host_stack,
    llama_spec,
    write_ssh_files,
)
from tests.docker.test_eval_stack import CELL, eval_argv
from tests.helpers import run_cli

pytestmark = pytest.mark.docker

PORT = LLAMA_PORT
CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


def front(stack: HostStack) -> str:
    return f"http://{stack.hosts['a'].address}:{PORT}"


def test_replicas_on_both_hosts_answer_through_one_front_door(llama_hosts: HostStack) -> None:
    stack = llama_hosts
    headers = {"Authorization": f"Bearer {stack.token()}"}
    with httpx.Client(timeout=60, trust_env=False) as client:
        seen = Counter(client.post(f"{front(stack)}/v1/chat/completions", json=CHAT, headers=headers)
                       .headers["x-taustack-replica"] for _ in range(8))
        assert set(seen) == {"llamacpp-0@a", "llamacpp-1@b"}, seen
        with client.stream("POST", f"{front(stack)}/v1/chat/completions", headers=headers,
                           json={**CHAT, "stream": True}) as streamed:
            lines = [line for line in streamed.iter_lines() if line.startswith("data: ")]
        assert streamed.status_code == 200 and lines[-1] == "data: [DONE]" and len(lines) > 2
        # episodes: every turn of a session on one replica, sessions spread over both hosts
        placed = {}
        for session in ("s1", "s2", "s3", "s4"):
            replicas = {client.post(f"{front(stack)}/v1/chat/completions", json=CHAT,
                                    headers={**headers, "X-Session-ID": session}).headers["x-taustack-replica"]
                        for _ in range(3)}
            assert len(replicas) == 1, (session, replicas)
            placed[session] = replicas.pop()
        assert set(placed.values()) == {"llamacpp-0@a", "llamacpp-1@b"}, placed
        gateway = client.post(f"http://{stack.hosts['a'].address}:{GATEWAY_PORT}/v1/chat/completions", json=CHAT,
                              headers={"Authorization": f"Bearer {stack.secret('LITELLM_MASTER_KEY')}"})
        assert gateway.status_code == 200, gateway.text
    status = stack.cli("status", "--json")
    rows = {row["service"]: row for row in json.loads(status.stdout)}
    assert status.returncode == 0, status.stderr[-3000:]
    assert {"llamacpp-0@a", "llamacpp-1@b", "gate-a", "gate-b", "llamacpp-balancer", "gateway"} <= set(rows)
    # no key in any rendered file
    rendered = "".join(path.read_text() for path in stack.generated.rglob("*.yaml"))
    for name in ("TAUSTACK_API_TOKEN", "LITELLM_MASTER_KEY"):
        assert stack.secret(name) not in rendered


def test_eval_run_through_the_front_door(llama_hosts: HostStack, tmp_path: Path) -> None:
    """`taustack eval run` on this machine, the agent and the user simulator through the gateway on host a, which
    answers from replicas on both hosts (tau2 for real; the tiny model's words are noise: machinery, not scores)."""
    stack = llama_hosts
    argv = eval_argv(tmp_path, "hosts-run")
    argv[argv.index("--trials") + 1] = "1"
    env = {"TAUSTACK_ENV_FILE": str(stack.env_file), "TAUSTACK_GENERATED_DIR": str(stack.generated),
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", **stack.hosts.env}
    started = time.monotonic()
    result = run_cli(*argv, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    from tau2.data_model.simulation import Results

    run = tmp_path / "hosts-run"
    results = Results.model_validate_json((run / "results" / f"{CELL}.json").read_text())
    assert len(results.simulations) == 2 and all(len(s.messages) > 1 for s in results.simulations)
    cell = json.loads((run / "manifest.json").read_text())["cells"][0]
    assert cell["agent_model"]["via"] == "gateway"
    assert cell["agent_model"]["base_url"].startswith(f"http://{stack.hosts['a'].address}:{GATEWAY_PORT}")
    assert all(stack.secret("LITELLM_MASTER_KEY") not in p.read_text(errors="replace") for p in run.rglob("*")
               if p.is_file())
    print(f"\n[measure] eval run through the front door (2 mock simulations, max_steps 8): "
          f"{time.monotonic() - started:.0f}s")


def prometheus(stack: HostStack, query: str) -> list[dict[str, Any]]:
    """A PromQL query on the front host's Prometheus (its loopback port, from the host itself)."""
    answer = stack.hosts["a"].sh(f"curl -s -G --data-urlencode 'query={query}' "
                                 f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/query").stdout
    return list(json.loads(answer)["data"]["result"])


def test_the_front_hosts_monitoring_reaches_every_host(llama_hosts: HostStack) -> None:
    """The exporter probes both replicas at their gates and Prometheus scrapes both llama-servers there."""
    wanted = {"llamacpp-0": "1", "llamacpp-1": "1"}
    deadline = time.monotonic() + 60
    while True:
        scraped = {item["metric"]["instance"]: item["value"][1]
                   for item in prometheus(llama_hosts, 'up{job="llamacpp"}')}
        probed = {item["metric"]["replica"]: item["value"][1]
                  for item in prometheus(llama_hosts, "taustack_replica_up")}
        if (set(scraped.values()) == {"1"} and len(scraped) == 2 and probed == wanted) or time.monotonic() > deadline:
            break
        time.sleep(2)
    a, b = llama_hosts.hosts["a"].address, llama_hosts.hosts["b"].address
    assert scraped == {f"{a}:{PORT + 1}": "1", f"{b}:{PORT + 2}": "1"}
    assert probed == wanted


def listeners(stack: HostStack, name: str) -> list[tuple[str, int, str]]:
    """(address, port, process) of every TCP listener of a host that is not on its loopback."""
    text = stack.hosts[name].sh("ss -ltnpH").stdout
    found = []
    for line in text.splitlines():
        fields = line.split()
        address, _, port = fields[3].rpartition(":")
        process = re.search(r'\(\("([^"]+)"', line)
        if address.strip("[]").startswith("127.") or address in ("[::1]",):
            continue
        found.append((address, int(port), process.group(1) if process else "?"))
    return found


def test_every_published_port_answers_only_with_the_token(llama_hosts: HostStack) -> None:
    """From the other host: each listener of a host (but its own sshd) answers 401 without the token, and the replica
    and front door ports answer with it. The ports are exactly the stack's: a new one would have to be checked."""
    stack = llama_hosts
    token = stack.token()
    expected = {"a": {PORT, PORT + 1, GATEWAY_PORT}, "b": {PORT + 2}}
    for name, other in (("a", "b"), ("b", "a")):
        host = stack.hosts[name]
        ports = {port for _, port, process in listeners(stack, name) if process != "sshd"}
        assert ports == expected[name], listeners(stack, name)
        for port in ports:
            for method, path in (("GET", "/v1/models"), ("GET", "/health"), ("POST", "/v1/chat/completions"),
                                 ("GET", "/metrics"), ("GET", "/health/liveliness"), ("GET", "/props")):
                code = stack.hosts[other].sh(f"curl -s -o /dev/null -w '%{{http_code}}' -m 10 -X {method} "
                                             f"http://{host.address}:{port}{path}").stdout
                assert code == "401", (name, port, method, path, code)
            key = stack.secret("LITELLM_MASTER_KEY") if port == GATEWAY_PORT else token
            code = stack.hosts[other].sh(f"curl -s -o /dev/null -w '%{{http_code}}' -m 10 -H 'Authorization: Bearer "
                                         f"{key}' http://{host.address}:{port}/v1/models").stdout
            assert code == "200", (name, port, code)


def test_an_unknown_host_key_is_refused_before_anything_starts(llama_hosts: HostStack, tmp_path: Path) -> None:
    """known_hosts holding another key for host b (as after a reinstall, or a machine in its place): one line naming
    b and ssh's reason, exit 1, and not one container of the new project on a."""
    stack = llama_hosts
    hosts = stack.hosts
    wrong = SimHosts(hosts.network, dict(hosts.hosts), tmp_path / "ssh")
    (tmp_path / "ssh").mkdir()
    for name in ("id_ed25519", "id_ed25519.pub"):
        (tmp_path / "ssh" / name).write_bytes((hosts.ssh_dir / name).read_bytes())
        (tmp_path / "ssh" / name).chmod(0o600)
    write_ssh_files(wrong)
    known = (tmp_path / "ssh" / "known_hosts").read_text().splitlines()
    a_key = known[0].split(" ", 1)[1]
    (tmp_path / "ssh" / "known_hosts").write_text(f"{known[0]}\n{hosts['b'].address} {a_key}\n")
    other = host_stack(tmp_path / "stack", "hosts-badkey", llama_spec(hosts, Path(stack_model(stack)).parents[1]),
                       wrong)
    result = other.cli("up", "--timeout", "60")
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: host b (ssh://root@{hosts['b'].address}): ") and "Host key verification failed" \
        in error, result.stderr[-2000:]
    assert "host a" not in error
    ran = hosts["a"].docker("ps", "-a", "--filter", f"label=com.docker.compose.project={other.project}", "-q")
    assert ran.stdout.strip() == ""


def stack_model(stack: HostStack) -> str:
    return str(yaml.safe_load(stack.stack_file.read_text())["llamacpp"]["model"])
