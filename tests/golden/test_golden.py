"""Every rendered file, byte for byte, for several specs. `pytest --update-golden` rewrites them."""

from __future__ import annotations

from pathlib import Path

import pytest

from taustack.render.stack import render_stack
from taustack.stackfile.resolve import resolve_stack
from taustack.stackfile.stack import StackSpec
from taustack.workspace import Workspace
from tests.helpers import ROOT

STACK_FILE = ROOT / "serving" / "stack.yaml"  # what the rendered headers name

GOLDEN = Path(__file__).parent / "files"

CASES: dict[str, dict[str, object]] = {
    "cpu": {"ollama": {"gpus": "cpu", "replicas": 2}},
    "one-gpu": {"ollama": {"gpus": 1, "models": ["qwen2.5:7b"]}},
    "four-gpus": {"ollama": {"gpus": 4}},
    "gpu-ids": {"ollama": {"gpu_ids": ["1", "3"], "env": {"num_parallel": 8, "extra": {"OLLAMA_DEBUG": "1"}}}},
    "llamacpp-cpu": {"llamacpp": {"model": "models/tiny/tiny.gguf", "replicas": 2}},
    "llamacpp-python": {
        "llamacpp": {"model": "models/tiny/tiny.gguf", "server": "llama-cpp-python", "replicas": 2, "threads": 1,
                     "context_size": 4096, "model_name": "tiny"},
        "balancer": {"image": "taustack/nginx:bookworm"},
    },
    "llamacpp-gpu-offload": {
        "llamacpp": {"model": "volume:qwen2.5-7b-instruct-q4_k_m.gguf", "gpu_ids": ["0", "1"], "slots": 8,
                     "context_size": 16384, "threads": 8, "extra_args": ["--flash-attn", "on"]},
    },
    "gateway-all-routes": {
        "ollama": {"gpus": 2, "models": ["qwen2.5:7b"], "bind": "0.0.0.0"},
        "llamacpp": {"model": "models/tiny/tiny.gguf", "model_name": "tiny"},
        "gateway": {
            "workers": 2,
            "models": [
                {"name": "qwen2.5-7b", "engine": "ollama", "model": "qwen2.5:7b"},
                {"name": "qwen2.5-7b", "engine": "together", "model": "Qwen/Qwen2.5-7B-Instruct-Turbo"},
                {"name": "tiny", "engine": "llamacpp", "model": "tiny"},
                {"name": "gpt-4.1", "engine": "openai", "model": "gpt-4.1"},
                {"name": "claude", "engine": "anthropic", "model": "claude-sonnet-4-5"},
                {"name": "local-vllm", "engine": "openai-compatible", "model": "served-name",
                 "api_base": "http://10.0.0.5:8000/v1", "api_key_env": "REMOTE_VLLM_KEY"},
            ],
            "fallbacks": {"qwen2.5-7b": ["gpt-4.1"]},
            "router": {"timeout_s": 7200, "num_retries": 1},
        },
    },
    "vllm-replicated": {
        "vllm": {"model": "Qwen/Qwen2.5-7B-Instruct", "served_model_name": "qwen2.5-7b", "gpus": 8,
                 "tensor_parallel": 2, "max_model_len": 32768, "max_num_seqs": 64, "tool_call_parser": "hermes",
                 "lora_modules": {"tau2-sft": "/adapters/tau2-sft"}, "api_key_env": "VLLM_KEY"},
        "gateway": {"models": [{"name": "qwen2.5-7b", "engine": "vllm", "model": "qwen2.5-7b"}]},
    },
    "vllm-public-pp": {
        "vllm": {"model": "meta-llama/Llama-3.1-70B-Instruct", "gpu_ids": ["0", "1", "2", "3"],
                 "tensor_parallel": 2, "pipeline_parallel": 2, "bind": "0.0.0.0", "quantization": "fp8",
                 "reasoning_parser": "deepseek_r1", "tool_call_parser": "llama3_json", "hf_cache": "/data/hf",
                 "api_key_env": "VLLM_KEY"},
    },
    "monitoring": {
        "ollama": {"gpus": 2},
        "vllm": {"model": "Qwen/Qwen2.5-7B-Instruct", "gpu_ids": ["2", "3"]},
        "llamacpp": {"model": "models/tiny/tiny.gguf"},
        "gateway": {"models": [{"name": "tiny", "engine": "llamacpp", "model": "tiny"}]},
        "monitoring": {},
    },
    "affinity-hash": {
        "llamacpp": {"model": "models/tiny/tiny.gguf", "replicas": 2},
        "balancer": {"affinity": "hash"},
    },
    "affinity-off": {
        "ollama": {"gpus": 2},
        "balancer": {"affinity": "off", "strategy": "round_robin"},
    },
    "two-per-replica": {
        "ollama": {"gpus": 4, "gpus_per_replica": 2, "port": 21434},
        "balancer": {"read_timeout_s": 600, "body_limit": "16m", "worker_connections": 4096},
    },
}


def render_case(name: str) -> dict[str, str]:
    spec = StackSpec.model_validate(CASES[name])
    keys = {"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "x", "TOGETHERAI_API_KEY": "x", "REMOTE_VLLM_KEY": "x"}
    return render_stack(resolve_stack(spec, keys, lambda: ["0", "1", "2", "3"]), Workspace(ROOT), STACK_FILE).files


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_files_match_golden(case: str, update_golden: bool) -> None:
    files = render_case(case)
    folder = GOLDEN / case
    if update_golden:
        for relative, text in files.items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text)
    expected = {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*") if p.is_file()}
    assert sorted(files) == sorted(expected)
    for relative, text in files.items():
        assert text == expected[relative], f"{case}/{relative} differs from the golden file"
