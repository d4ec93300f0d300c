"""resolve_stack: what only the host can say (the GPUs of `all`, a cached config.json, keys), as SpecErrors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taustack.errors import SpecError
from taustack.stackfile.resolve import resolve_stack
from taustack.stackfile.stack import StackSpec
from tests.helpers import ROOT

QWEN = json.loads((ROOT / "tests" / "data" / "model_configs.json").read_text())["Qwen/Qwen2.5-7B-Instruct"]["config"]


def resolve_error(data: dict[str, object], inventory: list[str], environment: dict[str, str] | None = None) -> str:
    with pytest.raises(SpecError) as caught:
        resolve_stack(StackSpec.model_validate(data), environment, lambda: inventory)
    return str(caught.value)


def test_devices_per_replica_come_from_the_inventory_only_for_all() -> None:
    spec = StackSpec.model_validate({"ollama": {"gpus": "all", "gpus_per_replica": 2},
                                     "vllm": {"model": "m", "gpu_ids": ["5", "7"], "tensor_parallel": 2},
                                     "llamacpp": {"model": "m.gguf", "replicas": 2}})
    resolved = resolve_stack(spec, {}, lambda: ["0", "1", "2", "3"])
    assert resolved.spec is spec
    assert resolved.devices("ollama") == (("0", "1"), ("2", "3"))
    assert resolved.devices("vllm") == (("5", "7"),)
    assert resolved.devices("llamacpp") == ((), ())


@pytest.mark.parametrize(
    ("data", "inventory", "message"),
    [
        ({"ollama": {"gpus": "all", "replicas": 3}}, ["0", "1"], "ollama.replicas: 3 replicas cannot share 2 GPUs"),
        ({"vllm": {"model": "m", "gpus": "all", "tensor_parallel": 2}}, ["0", "1", "2"],
         "vllm.gpus: 3 GPUs leave 1 idle: each replica takes TP x PP x DP = 2"),
        ({"ollama": {"gpus": "all", "port": 65534}}, ["0", "1"],
         "ollama.port: replicas would listen on ports up to 65536, past 65535"),
    ],
)
def test_all_is_placed_on_the_inventory(data: dict[str, object], inventory: list[str], message: str) -> None:
    assert resolve_error(data, inventory).startswith(message)


def test_all_without_nvidia_smi_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SpecError, match=r"^ollama\.gpus: 'all' needs nvidia-smi"):
        resolve_stack(StackSpec.model_validate({"ollama": {"gpus": "all"}}))
    resolve_stack(StackSpec.model_validate({"ollama": {"gpus": 2}}))  # counts never ask nvidia-smi


def test_provider_keys_must_be_set() -> None:
    data: dict[str, object] = {"gateway": {"models": [
        {"name": "a", "engine": "openai", "model": "gpt-4.1"},
        {"name": "b", "engine": "openai-compatible", "model": "m", "api_base": "http://h:1/v1", "api_key_env": "K"}]}}
    assert resolve_error(data, [], {}) == ("gateway.models.0.api_key_env: OPENAI_API_KEY is not set "
                                           "(in the environment or .env)")
    assert resolve_error(data, [], {"OPENAI_API_KEY": "x"}).startswith("gateway.models.1.api_key_env: K is not set")
    resolve_stack(StackSpec.model_validate(data), {"OPENAI_API_KEY": "x", "K": "y"}, lambda: [])


def test_a_layout_the_cached_config_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = tmp_path / "models--Qwen--Qwen2.5-7B-Instruct" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(QWEN))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    data: dict[str, object] = {"vllm": {"model": "Qwen/Qwen2.5-7B-Instruct", "gpus": 8, "tensor_parallel": 8}}
    assert resolve_error(data, []).startswith("vllm.tensor_parallel: TP=8 does not divide the 28 attention heads")
    resolve_stack(StackSpec.model_validate({"vllm": {"model": "Qwen/Qwen2.5-7B-Instruct", "gpus": 8,
                                                      "tensor_parallel": 4}}), {}, lambda: [])
