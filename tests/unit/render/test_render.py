"""Rendering: what the files say, and how they are written (atomically, only when changed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from taustack.fileio import write_files
from taustack.render.stack import render_stack
from taustack.stackfile.resolve import resolve_stack
from taustack.stackfile.stack import StackSpec
from taustack.workspace import Workspace
from tests.helpers import ROOT, run_main, write_stack

STACK_FILE = ROOT / "serving" / "stack.yaml"  # what the rendered headers name


def rendered(data: dict[str, object]) -> dict[str, str]:
    resolved = resolve_stack(StackSpec.model_validate(data), inventory=lambda: ["0", "1"])
    return render_stack(resolved, Workspace(ROOT), STACK_FILE).files


def test_replicas_are_pinned_with_string_device_ids() -> None:
    files = rendered({"ollama": {"gpus": 4, "gpus_per_replica": 2}})
    services = yaml.safe_load(files["compose.yaml"])["services"]
    devices = services["ollama-1"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "device_ids": ["2", "3"], "capabilities": ["gpu"]}]
    assert set(services) == {"ollama-0", "ollama-1", "ollama-router", "ollama-balancer"}


def test_cpu_replicas_have_no_gpu_reservation_and_share_one_volume() -> None:
    document = yaml.safe_load(rendered({"ollama": {"replicas": 3}})["compose.yaml"])
    replicas = [document["services"][f"ollama-{i}"] for i in range(3)]
    assert all("deploy" not in service for service in replicas)
    assert all(service["volumes"] == ["ollama-models:/root/.ollama"] for service in replicas)
    assert all(service["restart"] == "unless-stopped" for service in replicas)
    assert all(service["healthcheck"]["test"] == ["CMD", "ollama", "list"] for service in replicas)
    assert document["volumes"] == {"ollama-models": {}}
    assert [s["ports"] for s in replicas] == [["127.0.0.1:11435:11435"], ["127.0.0.1:11436:11436"],
                                              ["127.0.0.1:11437:11437"]]


def test_balancer_publishes_on_loopback_with_the_rendered_conf() -> None:
    files = rendered({"ollama": {"replicas": 2, "port": 12000}})
    balancer = yaml.safe_load(files["compose.yaml"])["services"]["ollama-balancer"]
    assert balancer["ports"] == ["127.0.0.1:12000:12000"]
    assert balancer["volumes"] == ["./compose/generated/nginx/ollama.conf:/etc/nginx/nginx.conf:ro"]
    conf = files["nginx/ollama.conf"]
    assert "server ollama-0:12001 " in conf and "server ollama-1:12002 " in conf
    assert "least_conn;" in conf and "upstream ollama_router {" in conf
    assert "proxy_buffering off;" in conf and 'proxy_set_header Connection "";' in conf
    assert "client_max_body_size 64m;" in conf and "proxy_read_timeout 3600s;" in conf
    assert "use: taustack pull MODEL" in conf


def test_round_robin_strategy_drops_least_conn_but_keeps_session_affinity() -> None:
    conf = rendered({"ollama": {"replicas": 2}, "balancer": {"strategy": "round_robin", "affinity": "hash"}})[
        "nginx/ollama.conf"]
    assert "least_conn;" not in conf and "upstream ollama_balanced {" in conf
    assert "hash $http_x_session_id consistent;" in conf
    with pytest.raises(ValidationError, match="strategy"):
        rendered({"ollama": {"replicas": 2}, "balancer": {"strategy": "random"}})


def test_router_affinity_sends_sessions_through_the_router_and_its_workers_name_their_replica() -> None:
    files = rendered({"ollama": {"replicas": 2}, "balancer": {"router": {"policy": "consistent_hash"}}})
    router = yaml.safe_load(files["compose.yaml"])["services"]["ollama-router"]
    command = router["command"]
    assert command[command.index("--worker-urls") + 1:command.index("--policy")] == [
        "http://ollama-balancer:9100", "http://ollama-balancer:9101"]
    assert command[command.index("--policy") + 1] == "consistent_hash" and "ports" not in router
    conf = files["nginx/ollama.conf"]
    assert "default ollama_router;" in conf and "server ollama-router:30000 " in conf
    assert "listen 9101;" in conf and "proxy_pass http://ollama_replica_1;" in conf
    # a worker's health is its own replica's; its requests fall back to the other replica
    assert "rewrite ^ /api/version break;\n            proxy_pass http://ollama-1:11436;" in conf
    replica_1 = conf[conf.index("upstream ollama_replica_1 {"):]
    assert replica_1.index("server ollama-1:11436 max_fails") < replica_1.index("server ollama-0:11435 backup;")


def test_one_replica_or_affinity_off_renders_no_router() -> None:
    for balancer in ({}, {"affinity": "off"}):
        replicas = 1 if not balancer else 2
        files = rendered({"ollama": {"replicas": replicas}, "balancer": balancer})
        assert "ollama-router" not in yaml.safe_load(files["compose.yaml"])["services"]
        assert "_router" not in files["nginx/ollama.conf"] and "X-Session-ID" not in files["nginx/ollama.conf"]


def test_no_engine_section_renders_nothing() -> None:
    assert rendered({}) == {}


def test_write_files_only_writes_what_changed_and_removes_stale_files(tmp_path: Path) -> None:
    assert write_files(tmp_path, {"a.conf": "1\n", "sub/b.yaml": "2\n"}) == ["a.conf", "sub/b.yaml"]
    before = os.stat(tmp_path / "a.conf").st_mtime_ns
    assert write_files(tmp_path, {"a.conf": "1\n", "sub/b.yaml": "2\n"}) == []
    assert os.stat(tmp_path / "a.conf").st_mtime_ns == before
    (tmp_path / ".gitkeep").write_text("")
    assert write_files(tmp_path, {"a.conf": "3\n"}) == ["a.conf", "sub/b.yaml (removed)"]
    assert (tmp_path / "a.conf").read_text() == "3\n"
    assert (tmp_path / ".gitkeep").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_llama_server_upstreams_get_a_new_connection_per_request() -> None:
    """llama-server may close a kept-alive connection after a streamed answer without saying so."""
    for server, kept in (("llama-server", False), ("llama-cpp-python", True)):
        files = rendered({"llamacpp": {"model": "models/tiny/tiny.gguf", "server": server}})
        assert ("keepalive 64;" in files["nginx/llamacpp.conf"]) is kept
    assert "keepalive_timeout 4s;" in rendered({"ollama": {}})["nginx/ollama.conf"]


def test_an_unknown_affinity_or_router_policy_is_refused() -> None:
    with pytest.raises(ValidationError, match="affinity"):
        rendered({"ollama": {"replicas": 2}, "balancer": {"affinity": "sticky"}})
    with pytest.raises(ValidationError, match="policy"):
        rendered({"ollama": {"replicas": 2}, "balancer": {"router": {"policy": "cache_aware"}}})
    with pytest.raises(ValidationError, match="session_expiry_s"):
        rendered({"ollama": {"replicas": 2}, "balancer": {"router": {"session_expiry_s": 0}}})


def test_rendered_headers_name_the_stack_file_they_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAUSTACK_ENV_FILE", str(tmp_path / ".env"))
    stack_file = write_stack(tmp_path / "lab-stack.yaml", {"ollama": {"replicas": 2}})
    generated = tmp_path / "generated"
    code, _, err = run_main(["render", "--stack", str(stack_file), "--generated-dir", str(generated)])
    assert code == 0, err
    compose = (generated / "compose.yaml").read_text().splitlines()[0]
    assert compose == f"# Rendered by `taustack render` from {stack_file.resolve()}: do not edit."
    assert f"do not edit, edit {stack_file.resolve()}." in (generated / "nginx" / "ollama.conf").read_text()
    # inside the project it is named from the root, as the default one is
    inside = rendered({"ollama": {}})
    assert inside["compose.yaml"].startswith("# Rendered by `taustack render` from serving/stack.yaml: do not edit.")


def balancer_of(files: dict[str, str], engine: str) -> dict[str, object]:
    return yaml.safe_load(files["compose.yaml"])["services"][f"{engine}-balancer"]  # type: ignore[no-any-return]


def test_a_public_balancer_checks_the_token_and_sends_the_engine_key_in_its_place() -> None:
    """vLLM wants its own key (api_key_env), the client shows the API token: nginx checks one and sends the other."""
    files = rendered({"vllm": {"model": "m", "gpus": 2, "bind": "0.0.0.0", "api_key_env": "VLLM_KEY"},
                      "gateway": {"models": [{"name": "m", "engine": "vllm", "model": "m"}]}})
    conf = files["nginx/vllm.conf"]
    assert "include /tmp/taustack-auth.conf;" in conf and "include /tmp/taustack-engine-key.conf;" in conf
    # the front port and both of the router's per-replica ports
    assert conf.count("proxy_set_header Authorization $taustack_engine_authorization;") == 3
    balancer = balancer_of(files, "vllm")
    assert balancer["environment"] == {"TAUSTACK_API_TOKEN": "${TAUSTACK_API_TOKEN:?run: taustack up}",
                                       "TAUSTACK_ENGINE_KEY": "${VLLM_KEY:?set VLLM_KEY in .env}"}
    command = balancer["command"][-1]  # type: ignore[index]
    assert 'map "" $$taustack_engine_authorization' in command and '"$$TAUSTACK_ENGINE_KEY"' in command
    assert command.endswith("exec nginx -g 'daemon off;'")
    # the gateway shows the balancer its token; the balancer does the rest
    route = yaml.safe_load(files["litellm.yaml"])["model_list"][0]["litellm_params"]
    assert route["api_key"] == "os.environ/TAUSTACK_API_TOKEN"


def test_a_public_balancer_without_an_engine_key_forwards_no_authorization() -> None:
    files = rendered({"ollama": {"replicas": 2, "bind": "0.0.0.0"}})
    conf = files["nginx/ollama.conf"]
    assert conf.count('proxy_set_header Authorization "";') == 3 and "engine-key" not in conf
    assert "TAUSTACK_ENGINE_KEY" not in files["compose.yaml"]


def test_a_loopback_balancer_passes_the_client_header_to_an_engine_with_its_own_key() -> None:
    files = rendered({"vllm": {"model": "m", "gpus": 2, "api_key_env": "VLLM_KEY"},
                      "gateway": {"models": [{"name": "m", "engine": "vllm", "model": "m"}]}})
    assert "proxy_set_header Authorization" not in files["nginx/vllm.conf"]
    assert "environment" not in balancer_of(files, "vllm")
    route = yaml.safe_load(files["litellm.yaml"])["model_list"][0]["litellm_params"]
    assert route["api_key"] == "os.environ/VLLM_KEY"
