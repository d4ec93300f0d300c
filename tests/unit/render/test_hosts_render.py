"""Rendering a stack across hosts: one compose file per host, no bind mount of this machine's files, every replica
behind its host's gate (token, loopback replicas), the front door on the front host reaching replicas at private
addresses, and a vLLM group as head plus --headless followers under the group watcher."""

from __future__ import annotations

from typing import Any

import yaml

from taustack.render.stack import render_stack
from taustack.stackfile.resolve import resolve_stack
from taustack.stackfile.stack import StackSpec
from taustack.workspace import Workspace
from tests.helpers import ROOT

STACK_FILE = ROOT / "serving" / "stack.yaml"
HOSTS = {"a": {"docker": "ssh://root@10.0.0.1", "address": "10.0.0.1", "cores": "0-3"},
         "b": {"docker": "ssh://root@10.0.0.2", "address": "10.0.0.2", "cores": "4-7"}}
LLAMA = {"model": "models/tiny/tiny.gguf", "model_name": "tiny", "replicas": 2, "threads": 1, "bind": "10.0.0.1"}
VLLM = {"model": "/root/.cache/huggingface/tiny/hf", "served_model_name": "tiny", "hf_cache": "/srv/hf",
        "pipeline_parallel": 2, "nodes": 2, "port": 8000, "bind": "10.0.0.1", "api_key_env": "VLLM_KEY"}


def rendered(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    resolved = resolve_stack(StackSpec.model_validate(data), {"VLLM_KEY": "x"})
    files = render_stack(resolved, Workspace(ROOT), STACK_FILE).files
    assert set(files) == {f"hosts/{name}/compose.yaml" for name in ("a", "b")}
    return {name: yaml.safe_load(files[f"hosts/{name}/compose.yaml"]) for name in ("a", "b")}


def test_each_host_runs_its_replicas_and_gate_and_the_front_the_door() -> None:
    files = rendered({"hosts": HOSTS, "llamacpp": LLAMA, "balancer": {"image": "taustack/nginx:bookworm"},
                      "gateway": {"bind": "10.0.0.1", "models": [{"name": "tiny", "engine": "llamacpp",
                                                                    "model": "tiny"}]}})
    assert list(files["a"]["services"]) == ["llamacpp-0", "gate-a", "llamacpp-router", "llamacpp-balancer",
                                            "gateway"]
    assert list(files["b"]["services"]) == ["llamacpp-1", "gate-b"]
    every = [service for document in files.values() for service in document["services"].values()]
    # nothing names this machine's files: the GGUF comes from a volume the controller fills, configs travel inline
    assert all(not volume.startswith(("/", ".")) for service in every for volume in service.get("volumes", []))
    assert files["b"]["services"]["llamacpp-1"]["volumes"] == ["llamacpp-models:/models:ro"]
    assert files["b"]["services"]["llamacpp-1"]["ports"] == ["127.0.0.1:8082:8082"]
    gate = files["b"]["services"]["gate-b"]
    assert gate["network_mode"] == "host" and "ports" not in gate
    conf = files["b"]["configs"]["gate-b"]["content"]
    assert "listen 10.0.0.2:8082;" in conf and "proxy_pass http://127.0.0.1:8082;" in conf
    assert "if ($$taustack_authorized = 0)" in conf  # Compose's own $ escaped
    nginx = files["a"]["configs"]["llamacpp-balancer.conf"]["content"]
    assert "server 10.0.0.1:8081 max_fails" in nginx and "server 10.0.0.2:8082 max_fails" in nginx
    assert '"~:8082$$" "llamacpp-1@b";' in nginx  # X-Taustack-Replica names host and replica
    assert "proxy_socket_keepalive on;" in nginx
    assert "proxy_set_header Authorization $$taustack_engine_authorization;" in nginx
    balancer = files["a"]["services"]["llamacpp-balancer"]
    assert balancer["sysctls"]["net.ipv4.tcp_keepalive_time"] == "10"
    assert balancer["ports"] == ["10.0.0.1:8080:8080"]
    assert balancer["environment"] == {"TAUSTACK_API_TOKEN": "${TAUSTACK_API_TOKEN:?run: taustack up}",
                                       "TAUSTACK_ENGINE_KEY": "${TAUSTACK_API_TOKEN:?run: taustack up}"}
    text = yaml.safe_dump(files)
    assert "sk-" not in text


def test_a_vllm_group_is_a_head_and_headless_followers_under_the_watcher() -> None:
    files = rendered({"hosts": HOSTS, "vllm": VLLM})
    head, follower = files["a"]["services"]["vllm-0"], files["b"]["services"]["vllm-0-node1"]
    for member, rank, address in ((head, "0", "10.0.0.1"), (follower, "1", "10.0.0.2")):
        assert member["network_mode"] == "host" and member["ipc"] == "host" and "ports" not in member
        assert member["entrypoint"] == ["python3", "/etc/taustack/vllm_group.py"]
        command = member["command"]
        serve = command[command.index("--") + 1:]
        assert serve[:3] == ["vllm", "serve", VLLM["model"]]
        assert serve[serve.index("--node-rank") + 1] == rank
        assert serve[serve.index("--master-addr") + 1] == "10.0.0.1"
        assert serve[serve.index("--nnodes") + 1] == "2" and serve[serve.index("--master-port") + 1] == "29501"
        assert serve[serve.index("--host") + 1] == "127.0.0.1"  # the gate is the way in
        assert command[command.index("--address") + 1] == address
        assert member["environment"]["VLLM_HOST_IP"] == address
        assert member["volumes"] == ["/srv/hf:/root/.cache/huggingface"]
    assert "--headless" in follower["command"] and "--headless" not in head["command"]
    assert head["environment"]["VLLM_CPU_OMP_THREADS_BIND"] == "0" and head["cpuset"] == "0"
    assert follower["environment"]["VLLM_CPU_OMP_THREADS_BIND"] == "4" and follower["cpuset"] == "4"
    assert "VLLM_API_KEY" in head["environment"] and "VLLM_API_KEY" not in follower["environment"]
    watcher = files["b"]["configs"]["vllm-group-watcher"]["content"]
    assert "def follower(" in watcher and "$$" not in watcher.replace("$$", "")
    # only the head's host has a gate, in front of the head's loopback port, sending vLLM's own key
    assert "gate-b" not in files["b"]["services"]
    gate = files["a"]["configs"]["gate-a"]["content"]
    assert "listen 10.0.0.1:8001;" in gate and "proxy_set_header Authorization $$taustack_engine_authorization;" in gate
    assert files["a"]["services"]["gate-a"]["environment"]["TAUSTACK_ENGINE_KEY"] == "${VLLM_KEY:?set VLLM_KEY in .env}"


def test_monitoring_on_the_front_probes_and_scrapes_every_host_at_its_gate() -> None:
    files = rendered({"hosts": HOSTS, "llamacpp": LLAMA, "monitoring": {"grafana": True}})
    services = files["a"]["services"]
    assert {"exporter", "prometheus", "grafana"} <= set(services) and "exporter" not in files["b"]["services"]
    targets = yaml.safe_load(files["a"]["configs"]["exporter-targets"]["content"])
    assert [r["url"] for r in targets["groups"][0]["replicas"]] == ["http://10.0.0.1:8081", "http://10.0.0.2:8082"]
    scrape = yaml.safe_load(files["a"]["configs"]["prometheus-config"]["content"])
    job = next(job for job in scrape["scrape_configs"] if job["job_name"] == "llamacpp")
    assert job["static_configs"] == [{"targets": ["10.0.0.1:8081", "10.0.0.2:8082"]}]
    assert job["authorization"] == {"type": "Bearer", "credentials_file": "/tmp/taustack-token"}
    assert services["prometheus"]["volumes"] == ["prometheus-data:/prometheus"]
    assert services["exporter"]["environment"] == {"TAUSTACK_API_TOKEN": "${TAUSTACK_API_TOKEN:?run: taustack up}"}
    assert services["exporter"]["ports"] == ["127.0.0.1:9400:9400"]
    assert all(not volume.startswith(("/", ".")) for service in services.values()
               for volume in service.get("volumes", []))
    assert any(config["target"] == "/var/lib/grafana/dashboards/taustack.json"
               for config in services["grafana"]["configs"])
