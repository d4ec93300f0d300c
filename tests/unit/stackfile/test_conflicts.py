"""Checks across sections: one GPU per engine section unless shared on purpose, every port once (published on the
host, and inside each balancer's nginx); one line naming both fields, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from taustack.errors import SpecError
from taustack.stackfile.load import load_stack
from taustack.stackfile.resolve import resolve_stack
from taustack.stackfile.stack import StackSpec
from tests.helpers import run_main, write_stack

SHARE = "give each engine its own GPUs, or set share_gpus: true on one of them if sharing is on purpose"
AGAIN = "give one of them another port"


def load_error(tmp_path: Path, data: dict[str, object]) -> str:
    with pytest.raises(SpecError) as caught:
        load_stack(write_stack(tmp_path / "stack.yaml", data))
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ollama": {"gpus": 2}, "vllm": {"model": "m", "gpus": 2}},
         f"vllm.gpus: GPU 0, 1 would also serve ollama (ollama.gpus): {SHARE}"),
        ({"ollama": {"gpu_ids": ["1", "3", "10"]}, "llamacpp": {"model": "m.gguf", "gpu_ids": "10,3"}},
         f"llamacpp.gpu_ids: GPU 3, 10 would also serve ollama (ollama.gpu_ids): {SHARE}"),
        ({"ollama": {"gpus": 4}, "vllm": {"model": "m", "gpu_ids": ["3", "12"]}},
         f"vllm.gpu_ids: GPU 3 would also serve ollama (ollama.gpus): {SHARE}"),
    ],
)
def test_two_engine_sections_on_one_gpu_are_refused(tmp_path: Path, data: dict[str, object], message: str) -> None:
    assert load_error(tmp_path, data) == message


@pytest.mark.parametrize(
    "data",
    [
        {"ollama": {"gpus": 2}, "vllm": {"model": "m", "gpu_ids": ["2", "3"]}},
        {"ollama": {"gpus": 2}, "vllm": {"model": "m", "gpus": 2, "share_gpus": True}},
        {"ollama": {"gpus": 2}, "llamacpp": {"model": "m.gguf"}},  # the CPU shares nothing
        # an index and a UUID cannot be compared without the host: nvidia-smi's names are not looked up
        {"ollama": {"gpu_ids": ["0"]}, "vllm": {"model": "m", "gpu_ids": ["GPU-0a1b2c3d-0000"]}},
    ],
)
def test_engine_sections_on_their_own_gpus_or_shared_on_purpose_pass(data: dict[str, object]) -> None:
    StackSpec.model_validate(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # the cases: an engine's port on another's replica, and two balancers on one port
        ({"ollama": {"replicas": 2}, "llamacpp": {"model": "m.gguf", "port": 11435}},
         f"llamacpp.port: 11435 is the llamacpp balancer's port (llamacpp.port) and also ollama replica 0's port "
         f"(ollama.port + 1): {AGAIN}"),
        ({"ollama": {"port": 8000}, "vllm": {"model": "m", "port": 8000, "replicas": 2}},
         f"vllm.port: 8000 is the vllm balancer's port (vllm.port) and also the ollama balancer's port (ollama.port): "
         f"{AGAIN}"),
        ({"llamacpp": {"model": "m.gguf", "replicas": 3, "port": 8080}, "vllm": {"model": "m", "port": 8082}},
         f"vllm.port: 8082 is the vllm balancer's port (vllm.port) and also llamacpp replica 1's port "
         f"(llamacpp.port + 2): {AGAIN}"),
        ({"vllm": {"model": "m", "replicas": 2}, "gateway": {"port": 8002, "models": [
            {"name": "m", "engine": "vllm", "model": "m"}]}},
         f"gateway.port: 8002 is the gateway's port (gateway.port) and also vllm replica 1's port (vllm.port + 2): "
         f"{AGAIN}"),
        ({"ollama": {"port": 9090}, "monitoring": {}},
         f"monitoring.prometheus_port: 9090 is Prometheus's port (monitoring.prometheus_port) and also the ollama "
         f"balancer's port (ollama.port): {AGAIN}"),
        ({"ollama": {"replicas": 2}, "monitoring": {"grafana_port": 11436}},
         f"monitoring.grafana_port: 11436 is Grafana's port (monitoring.grafana_port) and also ollama replica 1's "
         f"port (ollama.port + 2): {AGAIN}"),
        # inside one balancer's nginx: the router's per-replica ports and the exporter's status port
        ({"ollama": {"replicas": 3, "port": 9101}},
         f"ollama.port: 9101 is the ollama balancer's port (ollama.port) and also where the ollama balancer takes "
         f"the router's requests for replica 1 (9100 + 1, with balancer.affinity: router): {AGAIN}"),
        ({"llamacpp": {"model": "m.gguf", "port": 8079}, "monitoring": {}},
         f"llamacpp.port: 8079 is the llamacpp balancer's port (llamacpp.port) and also where the llamacpp balancer "
         f"gives the exporter its connection counts (with monitoring): {AGAIN}"),
    ],
)
def test_a_port_used_twice_is_refused_naming_both_fields(tmp_path: Path, data: dict[str, object],
                                                         message: str) -> None:
    assert load_error(tmp_path, data) == message


@pytest.mark.parametrize(
    "data",
    [
        {"ollama": {"replicas": 3, "port": 9101}, "balancer": {"affinity": "off"}},  # no router: no 9100 + i
        {"ollama": {"port": 9100}},  # one replica has no router
        {"llamacpp": {"model": "m.gguf", "port": 8079}},  # no monitoring: no status port
        {"monitoring": {"grafana": False, "grafana_port": 11434}, "ollama": {}},  # Grafana is not started
    ],
)
def test_ports_that_nothing_else_uses_pass(data: dict[str, object]) -> None:
    StackSpec.model_validate(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ollama": {"gpus": "all"}, "llamacpp": {"model": "m.gguf", "gpus": 1}},
         f"llamacpp.gpus: GPU 0 would also serve ollama (ollama.gpus): {SHARE}"),
        ({"ollama": {"gpus": "all"}, "vllm": {"model": "m", "gpus": "all"}},
         f"vllm.gpus: GPU 0, 1 would also serve ollama (ollama.gpus): {SHARE}"),
    ],
)
def test_gpus_all_is_checked_against_the_others_when_the_stack_resolves(data: dict[str, object],
                                                                        message: str) -> None:
    """Validation cannot know which GPUs `all` means; the inventory can."""
    spec = StackSpec.model_validate(data)
    with pytest.raises(SpecError) as caught:
        resolve_stack(spec, inventory=lambda: ["0", "1"])
    assert str(caught.value) == message
    shared = {name: {**section, "share_gpus": True} for name, section in data.items()}  # type: ignore[dict-item]
    resolve_stack(StackSpec.model_validate(shared), inventory=lambda: ["0", "1"])


def test_replica_ports_of_gpus_all_are_checked_when_the_stack_resolves() -> None:
    """Validation cannot count the replicas of `gpus: all`; the inventory can."""
    spec = StackSpec.model_validate({"ollama": {"gpus": "all"}, "llamacpp": {"model": "m.gguf", "port": 11436}})
    with pytest.raises(SpecError) as caught:
        resolve_stack(spec, inventory=lambda: ["0", "1"])
    assert str(caught.value) == (f"llamacpp.port: 11436 is the llamacpp balancer's port (llamacpp.port) and also "
                                 f"ollama replica 1's port (ollama.port + 2): {AGAIN}")
    assert resolve_stack(spec, inventory=lambda: ["0"]).placements["ollama"] == (("0",),)


def test_render_refuses_a_clash_before_writing_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAUSTACK_ENV_FILE", str(tmp_path / ".env"))
    stack = write_stack(tmp_path / "stack.yaml", {"ollama": {"gpus": 2}, "vllm": {"model": "m", "gpus": 2}})
    generated = tmp_path / "generated"
    code, _, err = run_main(["render", "--stack", str(stack), "--generated-dir", str(generated)])
    assert code == 1
    assert err.strip().splitlines() == [f"Error: vllm.gpus: GPU 0, 1 would also serve ollama (ollama.gpus): {SHARE}"]
    assert not generated.exists()
