"""vLLM on the CPU: core lists read and written one way, each rank bound to cores of its own, the image, dtype and
KV cache a CPU replica needs, and layouts the host cannot give refused in one line before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from taustack.engines.cpus import format_core_list, parse_core_list
from taustack.errors import SpecError
from taustack.render.stack import render_stack
from taustack.stackfile.load import load_stack
from taustack.stackfile.resolve import resolve_stack
from taustack.versions import VLLM_CPU_IMAGE, VLLM_IMAGE
from taustack.workspace import Workspace
from tests.helpers import ROOT, write_stack

FOUR_CORES = (0, 1, 2, 3)


@pytest.mark.parametrize(("text", "cores"), [("0-3,6", (0, 1, 2, 3, 6)), ("5", (5,)), ("2,0", (2, 0)),
                                             ("0-0", (0,))])
def test_core_lists_read_and_write_one_way(text: str, cores: tuple[int, ...]) -> None:
    assert parse_core_list(text) == cores
    assert parse_core_list(format_core_list(cores)) == tuple(sorted(cores))
    assert parse_core_list(list(cores)) == cores


@pytest.mark.parametrize(("value", "words"), [("3-1", "runs backwards"), ("a", "not a core number"),
                                              ("0,0", "twice"), ("", "not a core number"), ([-1], "not a core")])
def test_bad_core_lists_say_what_is_wrong(value: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_core_list(value)  # type: ignore[arg-type]


def resolve(tmp_path: Path, data: dict[str, object], host: tuple[int, ...] = FOUR_CORES) -> object:
    return resolve_stack(load_stack(write_stack(tmp_path / "stack.yaml", data)), core_inventory=lambda: host)


def services(tmp_path: Path, data: dict[str, object],
             host: tuple[int, ...] = FOUR_CORES) -> dict[str, dict[str, object]]:
    stack_file = write_stack(tmp_path / "stack.yaml", data)
    resolved = resolve_stack(load_stack(stack_file), core_inventory=lambda: host)
    files = render_stack(resolved, Workspace(ROOT), stack_file).files
    return yaml.safe_load(files["compose.yaml"])["services"]  # type: ignore[no-any-return]


def test_each_rank_of_each_replica_gets_cores_of_its_own(tmp_path: Path) -> None:
    rendered = services(tmp_path, {"vllm": {"model": "m", "replicas": 2, "tensor_parallel": 2, "dtype": "float32",
                                            "kv_cache_gib": 2}})
    first, second = rendered["vllm-0"], rendered["vllm-1"]
    assert first["image"] == second["image"] == VLLM_CPU_IMAGE
    assert first["environment"]["VLLM_CPU_OMP_THREADS_BIND"] == "0|1"
    assert second["environment"]["VLLM_CPU_OMP_THREADS_BIND"] == "2|3"
    assert (first["cpuset"], second["cpuset"]) == ("0-1", "2-3")
    assert first["environment"]["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert first["environment"]["VLLM_CACHE_ROOT"] != second["environment"]["VLLM_CACHE_ROOT"]
    command = first["command"]
    assert command[command.index("--dtype") + 1] == "float32" and "--tensor-parallel-size" in command
    assert "deploy" not in first  # no GPU reservation


def test_cores_per_rank_and_a_given_core_list(tmp_path: Path) -> None:
    rendered = services(tmp_path, {"vllm": {"model": "m", "pipeline_parallel": 2, "data_parallel": 2,
                                            "cpu_cores": "2-9", "cores_per_rank": 2}}, host=tuple(range(16)))
    assert rendered["vllm-0"]["environment"]["VLLM_CPU_OMP_THREADS_BIND"] == "2-3|4-5|6-7|8-9"
    assert rendered["vllm-0"]["cpuset"] == "2-9"


def test_gpus_keep_the_gpu_image_and_bind_no_cores(tmp_path: Path) -> None:
    rendered = services(tmp_path, {"vllm": {"model": "m", "gpus": 2}})
    assert rendered["vllm-0"]["image"] == VLLM_IMAGE
    assert "cpuset" not in rendered["vllm-0"]
    assert "VLLM_CPU_OMP_THREADS_BIND" not in rendered["vllm-0"]["environment"]


@pytest.mark.parametrize(
    ("data", "host", "message"),
    [
        ({"vllm": {"model": "m", "replicas": 3}}, (0, 1),
         "vllm.cpu_cores: 3 replica(s) x 1 rank(s) (TP x PP x DP) x 1 core(s) per rank need 3 cores, 2 on this host"),
        ({"vllm": {"model": "m", "tensor_parallel": 2, "cpu_cores": "0"}}, FOUR_CORES,
         "vllm.cpu_cores: 1 replica(s) x 2 rank(s) (TP x PP x DP) x 1 core(s) per rank need 2 cores, 1 given"),
        ({"vllm": {"model": "m", "cpu_cores": "6-7"}}, FOUR_CORES, "vllm.cpu_cores: core(s) 6-7 are not among"),
        ({"vllm": {"model": "m", "replicas": 2}, "llamacpp": {"model": "m.gguf", "threads": 2, "replicas": 2}},
         FOUR_CORES, "llamacpp.threads: 2 replica(s) x 2 thread(s) need 4 cores, and vLLM's ranks hold 2"),
        ({"vllm": {"model": "m", "gpus": 1, "cpu_cores": "0"}}, FOUR_CORES,
         "vllm.cpu_cores: set, but the replicas run on GPUs"),
        ({"vllm": {"model": "m", "dtype": "fp8"}}, FOUR_CORES, "vllm.dtype: 'fp8' is not a vLLM --dtype"),
    ],
)
def test_layouts_the_host_cannot_give_are_one_line(tmp_path: Path, data: dict[str, object], host: tuple[int, ...],
                                                   message: str) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    with pytest.raises(SpecError) as raised:
        resolve(tmp_path, data, host)
    text = str(raised.value)
    assert text.startswith(message) and "\n" not in text, text


def test_a_head_dim_the_cpu_attention_refuses_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_attention_heads": 4, '
                      '"num_key_value_heads": 2, "num_hidden_layers": 2, "intermediate_size": 256, '
                      '"vocab_size": 1000}')
    with pytest.raises(SpecError, match=r"vllm\.model: head_dim 16 of m is not one vLLM's CPU attention takes"):
        resolve(tmp_path, {"vllm": {"model": "m", "config": str(config)}})
    resolve(tmp_path, {"vllm": {"model": "m", "config": str(config), "gpus": 1}})  # GPUs take it
