"""The planner against real config.json values of public models (tests/data/model_configs.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taustack.errors import SpecError
from taustack.planner.layout import GIB, layout_problem, plan, shape_from_config
from tests.helpers import ROOT, run_cli

MODELS = json.loads((ROOT / "tests" / "data" / "model_configs.json").read_text())


def shape(name: str):  # type: ignore[no-untyped-def]
    return shape_from_config(name, MODELS[name]["config"])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_counts_match_published_sizes(name: str) -> None:
    published = MODELS[name]["published_params_billion"] * 1e9
    assert abs(shape(name).parameters - published) / published < 0.02


@pytest.mark.parametrize(
    ("name", "kv_kib"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", 56),          # 2 x 28 layers x 4 KV heads x 128 x 2 bytes
        ("Qwen/Qwen2.5-72B-Instruct", 320),        # 2 x 80 x 8 x 128 x 2
        ("meta-llama/Llama-3.1-8B-Instruct", 128),  # 2 x 32 x 8 x 128 x 2
        ("meta-llama/Llama-3.1-70B-Instruct", 320),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 128),
        ("Qwen/Qwen3-30B-A3B", 96),                # 2 x 48 x 4 x 128 x 2
    ],
)
def test_kv_cache_bytes_per_token(name: str, kv_kib: int) -> None:
    assert shape(name).kv_bytes_per_token == kv_kib * 1024


def test_qwen72b_on_8_h100_wants_tp4_dp2() -> None:
    layouts = plan(shape("Qwen/Qwen2.5-72B-Instruct"), 8, 80, 32768, min_sequences=4)
    best = layouts[0]
    assert (best.tp, best.pp, best.dp) == (4, 1, 2)
    assert best.weights_per_gpu / GIB == pytest.approx(72.7e9 * 2 / 4 / GIB, rel=0.01)
    assert all((layout.tp * layout.pp * layout.dp) == 8 for layout in layouts)
    assert not any(layout.tp == 1 and layout.pp == 1 and layout.fits for layout in layouts)  # 135 GiB of weights


def test_llama8b_on_two_24gb_gpus() -> None:
    layouts = plan(shape("meta-llama/Llama-3.1-8B-Instruct"), 2, 24, 32768, min_sequences=4)
    best = layouts[0]
    assert (best.tp, best.pp, best.dp) == (2, 1, 1) and best.fits
    single = next(layout for layout in layouts if layout.tp == 1 and layout.pp == 1)
    assert single.sequences_per_replica == 1 and not single.fits


def test_invalid_layouts_say_why() -> None:
    qwen = shape("Qwen/Qwen2.5-7B-Instruct")
    assert layout_problem(qwen, 8, 1) == "TP=8 does not divide the 28 attention heads of Qwen/Qwen2.5-7B-Instruct"
    assert layout_problem(qwen, 1, 29) == "PP=29 is more than the 28 layers of Qwen/Qwen2.5-7B-Instruct"
    assert all(layout.tp != 8 for layout in plan(qwen, 8, 80, 8192))


def test_missing_fields_are_named() -> None:
    config = dict(MODELS["Qwen/Qwen2.5-7B-Instruct"]["config"])
    del config["num_hidden_layers"]
    with pytest.raises(SpecError, match=r"config\.json of x lacks num_hidden_layers"):
        shape_from_config("x", config)


def test_plan_command_prints_the_table_and_env_lines(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(MODELS["Qwen/Qwen2.5-72B-Instruct"]["config"]))
    result = run_cli("plan", str(tmp_path), "--gpus", "8", "--gpu-mem", "80")
    assert result.returncode == 0, result.stderr
    assert "VLLM_TP=4" in result.stdout and "VLLM_DP=2" in result.stdout
    missing = run_cli("plan", str(tmp_path / "nope"), "--gpus", "8", "--gpu-mem", "80")
    assert missing.returncode == 1 and missing.stderr.startswith("Error: no config.json for ")


def test_multinode_prints_the_hosts_and_vllm_sections_tp_inside_hosts_pp_across(tmp_path: Path) -> None:
    """`plan --nodes 2`: the stack file's sections for one model across two hosts (vLLM's own multi-node), which
    validate as they are; TP is a host's GPUs where the heads allow it, else the largest that divides them."""
    import yaml

    from taustack.stackfile.stack import StackSpec

    (tmp_path / "config.json").write_text(json.dumps(MODELS["Qwen/Qwen2.5-72B-Instruct"]["config"]))
    result = run_cli("plan", str(tmp_path), "--gpus", "16", "--gpu-mem", "80", "--nodes", "2", "--context", "8192")
    assert result.returncode == 0, result.stderr
    assert "ray" not in result.stdout.lower()
    sections = yaml.safe_load(result.stdout[result.stdout.index("\nhosts:"):])
    spec = StackSpec.model_validate(sections)
    assert spec.vllm is not None and spec.hosts is not None and list(spec.hosts) == ["gpu-a", "gpu-b"]
    assert (spec.vllm.tensor_parallel, spec.vllm.pipeline_parallel, spec.vllm.nodes) == (8, 2, 2)
    assert spec.vllm.max_model_len == 8192 and spec.vllm.gpus == 8
    from taustack.planner.layout import multinode_layout

    assert multinode_layout(shape("Qwen/Qwen2.5-7B-Instruct"), 2, 8) == (4, 4)  # 28 heads: TP=4, PP=4
