"""The stack file: defaults, overrides, and one clear line naming every bad field."""

from __future__ import annotations

from pathlib import Path

import pytest

from taustack.errors import SpecError
from taustack.stackfile.load import load_stack
from taustack.stackfile.stack import StackSpec
from tests.helpers import ROOT, write_stack


def load(tmp_path: Path, data: object, overrides: dict[str, tuple[object, str]] | None = None) -> StackSpec:
    path = tmp_path / "stack.yaml"
    write_stack(path, data)  # type: ignore[arg-type]
    return load_stack(path, overrides)


def test_the_shipped_stack_file_is_valid() -> None:
    spec = load_stack(ROOT / "serving" / "stack.yaml")
    assert spec.ollama is not None
    assert spec.ollama.port == 11434
    assert spec.ollama.bind == "127.0.0.1"
    assert spec.ollama.image.startswith("ollama/ollama:")


def test_an_empty_section_means_its_defaults(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text("ollama:\n")
    spec = load_stack(tmp_path / "stack.yaml")
    assert spec.ollama is not None and spec.ollama.gpus == "cpu"


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"ollama": {"gpus": "x"}}, "ollama.gpus", "'x' is not a GPU count"),
        ({"ollama": {"gpus": -1}}, "ollama.gpus", "not a GPU count"),
        ({"ollama": {"gpu_ids": ["1", "abc"]}}, "ollama.gpu_ids", "'abc' is neither a GPU index nor a GPU UUID"),
        ({"ollama": {"gpu_ids": ["1", "1"]}}, "ollama.gpu_ids", "twice"),
        ({"ollama": {"replicas": 0}}, "ollama.replicas", "greater than or equal to 1"),
        ({"ollama": {"gpus_per_replica": 0}}, "ollama.gpus_per_replica", "greater than or equal to 1"),
        ({"ollama": {"port": 0}}, "ollama.port", "greater than or equal to 1"),
        ({"ollama": {"port": 70000}}, "ollama.port", "less than or equal to 65535"),
        ({"ollama": {"image": "ollama/ollama latest"}}, "ollama.image", "not a valid image name"),
        ({"ollama": {"bind": "localhost-ish"}}, "ollama.bind", "not an IP address"),
        ({"ollama": {"models": ["bad model"]}}, "ollama.models", "not an Ollama model name"),
        ({"ollama": {"env": {"keep_alive": "forever"}}}, "ollama.env.keep_alive", "not a duration"),
        ({"ollama": {"env": {"num_parallel": 0}}}, "ollama.env.num_parallel", "greater than or equal to 1"),
        ({"ollama": {"env": {"extra": {"bad-name": "1"}}}}, "ollama.env.extra", "not an environment variable"),
        ({"ollama": {"foo": 1}}, "ollama.foo", "unknown key"),
        ({"ollama": {"env": {"nope": 1}}}, "ollama.env.nope", "unknown key"),
        ({"vllm2": {}}, "vllm2", "unknown key"),
        ({"balancer": {"body_limit": "lots"}}, "balancer.body_limit", "not an nginx size"),
        ({"balancer": {"image": "nginx; rm -rf /"}}, "balancer.image", "not a valid image name"),
        ({"balancer": {"worker_connections": 10}}, "balancer.worker_connections", "greater than or equal"),
    ],
)
def test_every_bad_value_is_named_on_one_line(tmp_path: Path, data: object, field: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        load(tmp_path, data)
    message = str(caught.value)
    assert message.startswith(f"{field}: "), message
    assert words in message
    assert "\n" not in message


def test_overrides_win_and_are_named_when_wrong(tmp_path: Path) -> None:
    data = {"ollama": {"gpu_ids": ["1", "3"], "gpus_per_replica": 2}}
    spec = load(tmp_path, data, {"ollama.gpus": ("4", "--gpus/GPUS")})
    assert spec.ollama is not None
    assert spec.ollama.gpus == 4 and spec.ollama.gpu_ids == [] and spec.ollama.gpus_per_replica is None
    with pytest.raises(SpecError, match=r"^ollama.gpus: 'x' is not a GPU count.*\(from --gpus/GPUS\)$"):
        load(tmp_path, data, {"ollama.gpus": ("x", "--gpus/GPUS")})
    with pytest.raises(SpecError, match=r"^ollama.replicas: .*\(from --replicas/REPLICAS\)$"):
        load(tmp_path, data, {"ollama.replicas": (0, "--replicas/REPLICAS")})


def test_gpus_zero_means_cpu_and_gpu_ids_accept_a_comma_list(tmp_path: Path) -> None:
    spec = load(tmp_path, {"ollama": {"gpus": 0}})
    assert spec.ollama is not None and spec.ollama.gpus == "cpu"
    spec = load(tmp_path, {"ollama": {"gpus": "cpu"}}, {"ollama.gpu_ids": ("1,GPU-8f6e2a1c-1111-2222", "x")})
    assert spec.ollama is not None and spec.ollama.gpu_ids == ["1", "GPU-8f6e2a1c-1111-2222"]


def test_file_problems_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_stack(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("ollama: [\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_stack(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_stack(tmp_path / "list.yaml")


def test_env_renders_ollama_variables(tmp_path: Path) -> None:
    spec = load(tmp_path, {"ollama": {"env": {"num_parallel": 2, "flash_attention": False,
                                              "extra": {"OLLAMA_KV_CACHE_TYPE": "q8_0"}}}})
    assert spec.ollama is not None
    env = spec.ollama.env.variables()
    assert env["OLLAMA_NUM_PARALLEL"] == "2"
    assert env["OLLAMA_FLASH_ATTENTION"] == "0"
    assert env["OLLAMA_KV_CACHE_TYPE"] == "q8_0"


def test_gpu_overrides_go_to_the_only_engine_section(tmp_path: Path) -> None:
    path = write_stack(tmp_path / "stack.yaml", {"vllm": {"model": "Qwen/Qwen2.5-7B-Instruct"}})
    spec = load_stack(path, engine_overrides={"gpus": ("4", "--gpus/GPUS")})
    assert spec.ollama is None, "an override must never add a section the file does not have"
    assert spec.vllm is not None and spec.vllm.gpus == 4


def test_gpu_overrides_go_to_the_section_engine_names(tmp_path: Path) -> None:
    data = {"ollama": {}, "llamacpp": {"model": "models/tiny/tiny.gguf"}}
    path = write_stack(tmp_path / "stack.yaml", data)
    spec = load_stack(path, engine_overrides={"replicas": (3, "--replicas/REPLICAS")}, engine="llamacpp")
    assert spec.llamacpp is not None and spec.llamacpp.replicas == 3
    assert spec.ollama is not None and spec.ollama.replicas is None


def test_gpu_overrides_with_several_sections_and_no_engine_name_the_choices(tmp_path: Path) -> None:
    path = write_stack(tmp_path / "stack.yaml", {"ollama": {}, "llamacpp": {"model": "models/tiny/tiny.gguf"}})
    with pytest.raises(SpecError, match=r"^--gpus/GPUS: the stack file has 2 engine sections \(ollama, llamacpp\): "
                                        r"name one with --engine ollama or --engine llamacpp$"):
        load_stack(path, engine_overrides={"gpus": ("2", "--gpus/GPUS")})


def test_gpu_overrides_for_a_section_the_file_lacks_are_an_error(tmp_path: Path) -> None:
    path = write_stack(tmp_path / "stack.yaml", {"vllm": {"model": "Qwen/Qwen2.5-7B-Instruct"}})
    with pytest.raises(SpecError, match=r"^--gpus/GPUS: the stack file has no ollama section \(it has: vllm\)$"):
        load_stack(path, engine_overrides={"gpus": ("4", "--gpus/GPUS")}, engine="ollama")
    empty = write_stack(tmp_path / "gateway-only.yaml", {"balancer": {}})
    with pytest.raises(SpecError, match=r"^--gpu-ids/GPU_IDS: the stack file has no engine section"):
        load_stack(empty, engine_overrides={"gpu_ids": ("1,3", "--gpu-ids/GPU_IDS")})
