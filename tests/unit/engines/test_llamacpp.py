"""The llama.cpp section: bad values named, GGUF checked before any container starts, both servers rendered."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from taustack.errors import SpecError
from taustack.render.stack import render_stack
from taustack.stackfile.load import load_stack
from taustack.stackfile.resolve import resolve_stack
from taustack.stackfile.stack import StackSpec
from taustack.workspace import Workspace
from tests.helpers import ROOT, run_cli, write_stack

STACK_FILE = ROOT / "serving" / "stack.yaml"  # what the rendered headers name


@pytest.mark.parametrize(
    ("section", "field", "words"),
    [
        ({"model": "m.gguf", "threads": 0}, "llamacpp.threads", "greater than or equal to 1"),
        ({"model": "m.gguf", "context_size": 64}, "llamacpp.context_size", "greater than or equal to 128"),
        ({"model": "m.gguf", "slots": 0}, "llamacpp.slots", "greater than or equal to 1"),
        ({"model": "m.bin"}, "llamacpp.model", "not a .gguf file"),
        ({"model": "volume:a/b.gguf"}, "llamacpp.model", "without folders"),
        ({"model": "m.gguf", "server": "vllm"}, "llamacpp.server", "llama-server"),
        ({"model": "m.gguf", "server": "llama-cpp-python", "slots": 4}, "llamacpp.slots", "one request at a time"),
        ({"model": "m.gguf", "chat_format": "chatml"}, "llamacpp.chat_format", "only llama-cpp-python"),
        ({"model": "m.gguf", "model_name": "bad name"}, "llamacpp.model_name", "not a model name"),
        ({"threads": 2}, "llamacpp.model", "Field required"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, section: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_stack(write_stack(tmp_path / "s.yaml", {"llamacpp": section}))
    assert str(caught.value).startswith(f"{field}: "), str(caught.value)
    assert words in str(caught.value)


def render(section: dict[str, object]) -> dict[str, object]:
    spec = StackSpec.model_validate({"llamacpp": section})
    files = render_stack(resolve_stack(spec, inventory=lambda: ["0"]), Workspace(ROOT), STACK_FILE).files
    return yaml.safe_load(files["compose.yaml"])["services"]  # type: ignore[no-any-return]


def test_llama_server_gets_slots_and_the_whole_context() -> None:
    service = render({"model": "models/x.gguf", "slots": 3, "context_size": 1000})["llamacpp-0"]
    assert "entrypoint" not in service  # the image's own (llama-server), as in llama.cpp's images
    args = service["command"]
    assert args[args.index("--parallel") + 1] == "3" and args[args.index("--ctx-size") + 1] == "3000"
    assert args[args.index("--n-gpu-layers") + 1] == "0"
    assert service["volumes"] == ["./models/x.gguf:/models/x.gguf:ro"]


def test_llama_cpp_python_server_forces_tools_with_its_chat_format() -> None:
    service = render({"model": "/abs/x.gguf", "server": "llama-cpp-python"})["llamacpp-0"]
    assert service["entrypoint"] == ["python3", "-m", "llama_cpp.server"]
    args = service["command"]
    assert args[args.index("--chat_format") + 1] == "chatml-function-calling"
    assert service["healthcheck"]["test"][-1] == "http://127.0.0.1:8081/v1/models"
    assert service["volumes"] == ["/abs/x.gguf:/models/x.gguf:ro"]


def test_gpu_replicas_offload_layers() -> None:
    service = render({"model": "x.gguf", "gpus": 1})["llamacpp-0"]
    args = service["command"]
    assert args[args.index("--n-gpu-layers") + 1] == "999"
    assert service["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] == ["0"]


@pytest.mark.parametrize(("content", "words"), [(None, "does not exist"), (b"not a gguf", "is not a GGUF file"),
                                                (b"GGUF\x03\x00\x00\x00" + b"\x00" * 40, "corrupt")])
def test_up_refuses_a_missing_or_corrupt_gguf_before_starting_anything(
    tmp_path: Path, content: bytes | None, words: str
) -> None:
    model = tmp_path / "m.gguf"
    if content is not None:
        model.write_bytes(content)
    stack = write_stack(tmp_path / "s.yaml", {"llamacpp": {"model": str(model)}})
    result = run_cli("up", "--stack", str(stack), "--generated-dir", str(tmp_path / "gen"),
                     "--project-name", "taustack-never-started")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: llamacpp.model: ") and str(model) in last and words in last, result.stderr
    assert "docker compose" not in result.stderr
