"""Checks across fields and sections: every one fails when the file is read, as one line naming its field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taustack.errors import SpecError
from taustack.stackfile.load import load_stack
from taustack.stackfile.stack import StackSpec
from tests.helpers import ROOT, write_stack

QWEN = json.loads((ROOT / "tests" / "data" / "model_configs.json").read_text())["Qwen/Qwen2.5-7B-Instruct"]["config"]


def load_error(tmp_path: Path, data: dict[str, object], overrides: dict[str, tuple[object, str]] | None = None) -> str:
    with pytest.raises(SpecError) as caught:
        load_stack(write_stack(tmp_path / "stack.yaml", data), overrides)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ollama": {"gpus": 4, "replicas": 3}}, "ollama.replicas: 3 replicas cannot share 4 GPUs evenly"),
        ({"ollama": {"gpus": 2, "gpus_per_replica": 4}},
         "ollama.gpus_per_replica: 4 is more than the 2 GPUs given"),
        ({"ollama": {"gpus": 4, "gpus_per_replica": 3}},
         "ollama.gpus_per_replica: 4 GPUs do not split into groups of 3"),
        ({"ollama": {"gpus": 4, "gpus_per_replica": 2, "replicas": 4}},
         "ollama.replicas: 4 replicas x 2 GPUs each does not match the 4 GPUs given"),
        ({"ollama": {"gpus": 2, "gpu_ids": ["1"]}}, "ollama.gpu_ids: give either gpus or gpu_ids, not both"),
        ({"llamacpp": {"model": "m.gguf", "gpus_per_replica": 2}},
         "llamacpp.gpus_per_replica: set, but the replicas run on the CPU (gpus: cpu)"),
        ({"ollama": {"port": 65534, "replicas": 2}},
         "ollama.port: replicas would listen on ports up to 65536, past 65535"),
        ({"vllm": {"model": "m", "gpus": 6, "tensor_parallel": 4}},
         "vllm.gpus: 6 GPUs leave 2 idle: each replica takes TP x PP x DP = 4"),
        ({"vllm": {"model": "m", "gpu_ids": ["0", "1", "2"], "tensor_parallel": 2}},
         "vllm.gpus: 3 GPUs leave 1 idle: each replica takes TP x PP x DP = 2"),
        ({"vllm": {"model": "m", "gpus": 4, "tensor_parallel": 2, "replicas": 1}},
         "vllm.replicas: 1 replicas x 2 GPUs each does not match the 4 GPUs given"),
        ({"gateway": {"models": [{"name": "a", "engine": "ollama", "model": "x"}]}},
         "gateway.models.0.engine: the stack has no ollama section for 'a'"),
        ({"ollama": {"models": ["qwen2.5:7b"]},
          "gateway": {"models": [{"name": "a", "engine": "openai", "model": "gpt-4.1"},
                                 {"name": "b", "engine": "ollama", "model": "llama3"}]}},
         "gateway.models.1.model: ollama does not serve 'llama3' (it serves qwen2.5:7b)"),
        ({"llamacpp": {"model": "m.gguf"}, "gateway": {"models": [{"name": "a", "engine": "llamacpp", "model": "x"}]}},
         "gateway.models.0.model: llamacpp does not serve 'x' (it serves m)"),
        ({"vllm": {"model": "m", "gpus": 1}, "gateway": {"models": [{"name": "a", "engine": "vllm", "model": "x"}]}},
         "gateway.models.0.model: vllm does not serve 'x' (it serves m)"),
    ],
)
def test_checks_across_fields_fail_when_the_file_is_read(tmp_path: Path, data: dict[str, object],
                                                         message: str) -> None:
    assert load_error(tmp_path, data) == message


def test_an_override_that_breaks_the_placement_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, {"ollama": {"gpus": 4}}, {"ollama.replicas": (3, "--replicas/REPLICAS")})
    assert message == "ollama.replicas: 3 replicas cannot share 4 GPUs evenly (from --replicas/REPLICAS)"


def test_a_layout_the_named_config_refuses_fails_when_the_file_is_read(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(QWEN))
    section = {"model": "Qwen/Qwen2.5-7B-Instruct", "config": str(config), "gpus": 8}
    assert load_error(tmp_path, {"vllm": {**section, "tensor_parallel": 8}}).startswith(
        "vllm.tensor_parallel: TP=8 does not divide the 28 attention heads")
    assert load_error(tmp_path, {"vllm": {**section, "pipeline_parallel": 29, "gpus": 29}}).startswith(
        "vllm.pipeline_parallel: PP=29 is more than the 28 layers")
    config.write_text("not json")
    assert load_error(tmp_path, {"vllm": section}) == f"vllm.config: {config} is not a readable config.json"


def test_ollama_names_follow_one_rule(tmp_path: Path) -> None:
    """`qwen2.5` is `qwen2.5:latest` on both sides of a route."""
    for served, asked in (("qwen2.5", "qwen2.5:latest"), ("qwen2.5:latest", "qwen2.5"),
                          ("hf.co/team/qwen", "hf.co/team/qwen:latest")):
        StackSpec.model_validate({"ollama": {"models": [served]},
                                  "gateway": {"models": [{"name": "a", "engine": "ollama", "model": asked}]}})


def test_gpus_all_waits_for_the_inventory() -> None:
    """Validation never runs nvidia-smi: `all` is placed (and refused) when the stack resolves."""
    spec = StackSpec.model_validate({"ollama": {"gpus": "all", "replicas": 3},
                                     "vllm": {"model": "m", "gpus": "all", "tensor_parallel": 3, "share_gpus": True}})
    assert spec.ollama is not None and spec.ollama.gpus == "all"
