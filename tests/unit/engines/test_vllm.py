"""The vllm section: parsers pinned to the image, layouts checked against config.json, GPUs never idle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from taustack.errors import SpecError
from taustack.render.stack import render_stack
from taustack.stackfile.load import load_stack
from taustack.stackfile.resolve import resolve_stack
from taustack.stackfile.stack import StackSpec
from taustack.workspace import Workspace
from tests.helpers import ROOT, write_stack

STACK_FILE = ROOT / "serving" / "stack.yaml"  # what the rendered headers name

MODELS = json.loads((ROOT / "tests" / "data" / "model_configs.json").read_text())


def render(tmp_path: Path, section: dict[str, object]) -> dict[str, object]:
    stack_file = write_stack(tmp_path / "s.yaml", {"vllm": section})
    resolved = resolve_stack(load_stack(stack_file), inventory=lambda: [str(i) for i in range(8)])
    files = render_stack(resolved, Workspace(ROOT), stack_file).files
    return yaml.safe_load(files["compose.yaml"])["services"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("section", "field", "words"),
    [
        ({"tool_call_parser": "hermes2"}, "vllm.tool_call_parser", "not a tool call parser of vLLM 0.31.0"),
        ({"reasoning_parser": "r1"}, "vllm.reasoning_parser", "not a reasoning parser"),
        ({"tensor_parallel": 0}, "vllm.tensor_parallel", "greater than or equal to 1"),
        ({"gpu_memory_utilization": 1.5}, "vllm.gpu_memory_utilization", "less than or equal to 1"),
        ({"tensor_parallel": 2, "gpus_per_replica": 4}, "vllm.gpus_per_replica", "TP x PP x DP = 2"),
        ({"api_key_env": "sk-123"}, "vllm.api_key_env", "never the key itself"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, section: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_stack(write_stack(tmp_path / "s.yaml", {"vllm": {"model": "m", "gpus": 1, **section}}))
    assert str(caught.value).startswith(f"{field}: ") and words in str(caught.value), str(caught.value)


def test_idle_gpus_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"^vllm\.gpus: 6 GPUs leave 2 idle: each replica takes TP x PP x DP = 4$"):
        render(tmp_path, {"model": "m", "gpus": 6, "tensor_parallel": 4})


def test_a_layout_the_model_cannot_take_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(MODELS["Qwen/Qwen2.5-7B-Instruct"]["config"]))
    with pytest.raises(SpecError, match=r"^vllm\.tensor_parallel: TP=8 does not divide the 28 attention heads"):
        render(tmp_path, {"model": "Qwen/Qwen2.5-7B-Instruct", "config": str(tmp_path / "config.json"),
                          "gpus": 8, "tensor_parallel": 8})
    services = render(tmp_path, {"model": "Qwen/Qwen2.5-7B-Instruct", "config": str(tmp_path / "config.json"),
                                 "gpus": 8, "tensor_parallel": 4})
    assert sorted(services) == ["vllm-0", "vllm-1", "vllm-balancer", "vllm-router"]


def test_replicas_get_their_own_gpus_shared_memory_and_flags(tmp_path: Path) -> None:
    services = render(tmp_path, {"model": "Qwen/Qwen2.5-7B-Instruct", "gpus": 4, "tensor_parallel": 2,
                                 "tool_call_parser": "hermes", "max_model_len": 16384})
    replica = services["vllm-1"]
    assert replica["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] == ["2", "3"]
    assert replica["ipc"] == "host" and replica["ulimits"]["memlock"] == {"soft": -1, "hard": -1}
    command = replica["command"]
    assert command[0] == "Qwen/Qwen2.5-7B-Instruct"
    assert command[command.index("--tensor-parallel-size") + 1] == "2"
    assert "--enable-auto-tool-choice" in command and command[command.index("--tool-call-parser") + 1] == "hermes"
    assert replica["ports"] == ["127.0.0.1:8002:8002"]
    assert replica["environment"]["HF_TOKEN"] == "${HF_TOKEN:-}"


def test_gateway_routes_vllm_with_hosted_vllm(tmp_path: Path) -> None:
    spec = StackSpec.model_validate({
        "vllm": {"model": "Qwen/Qwen2.5-7B-Instruct", "served_model_name": "qwen", "gpus": 1},
        "gateway": {"models": [{"name": "q", "engine": "vllm", "model": "qwen"}]},
    })
    files = render_stack(resolve_stack(spec, inventory=lambda: ["0"]), Workspace(ROOT), STACK_FILE).files
    config = yaml.safe_load(files["litellm.yaml"])
    assert config["model_list"][0]["litellm_params"] == {"model": "hosted_vllm/qwen",
                                                         "api_base": "http://vllm-balancer:8000/v1"}
