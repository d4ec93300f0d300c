"""What each engine says about itself (gateway route, metrics, names, pulls), and that rendering never refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from taustack.engines.base import Replica, ReplicaGroup, Routes
from taustack.engines.ollama import model_key
from taustack.engines.registry import ENGINES, engine_for, get_engine
from taustack.render.stack import render_stack
from taustack.stackfile.resolve import resolve_stack
from taustack.stackfile.stack import StackSpec
from taustack.workspace import Workspace
from tests.golden.test_golden import CASES
from tests.helpers import ROOT

STACK_FILE = ROOT / "serving" / "stack.yaml"  # what the rendered headers name

KEYS = {"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "x", "TOGETHERAI_API_KEY": "x", "REMOTE_VLLM_KEY": "x"}


def group(engine: str) -> ReplicaGroup:
    return ReplicaGroup(engine, 9000, "127.0.0.1", (Replica(engine, 0, 9001, ()),), Routes("", "", "", "/health"))


@pytest.mark.parametrize(
    ("engine", "params"),
    [
        ("ollama", {"model": "ollama_chat/m", "api_base": "http://ollama-balancer:9000"}),
        ("llamacpp", {"model": "openai/m", "api_base": "http://llamacpp-balancer:9000/v1", "api_key": "no-key"}),
        ("vllm", {"model": "hosted_vllm/m", "api_base": "http://vllm-balancer:9000/v1"}),
    ],
)
def test_each_engine_says_its_litellm_route(engine: str, params: dict[str, str]) -> None:
    assert get_engine(engine).litellm_params("m", group(engine)) == params


def test_only_ollama_pulls_warms_and_tags_models() -> None:
    assert [name for name, engine in ENGINES.items() if engine.pulls_models] == ["ollama"]
    assert get_engine("llamacpp").warm(group("llamacpp").replicas[0], "m") is False
    assert get_engine("vllm").warm(group("vllm").replicas[0], "m") is False
    assert model_key("qwen2.5") == get_engine("ollama").model_key("qwen2.5") == "qwen2.5:latest"
    assert get_engine("vllm").model_key("qwen2.5") == "qwen2.5"


def test_the_registry_gives_one_engine_per_group() -> None:
    assert engine_for(group("vllm")) is engine_for(group("vllm")) is get_engine("vllm")


def test_engines_that_export_metrics_say_where() -> None:
    spec = StackSpec.model_validate({"vllm": {"model": "m"}, "ollama": {}})
    resolved = resolve_stack(spec, {}, lambda: [])
    groups = {g.engine: g for g in render_stack(resolved, Workspace(ROOT), STACK_FILE).groups}
    assert groups["vllm"].routes.metrics_path == "/metrics" and groups["ollama"].routes.metrics_path is None
    for server, path in (("llama-server", "/metrics"), ("llama-cpp-python", None)):
        section = StackSpec.model_validate({"llamacpp": {"model": "m.gguf", "server": server}}).llamacpp
        assert get_engine("llamacpp").build_group(section, [()]).routes.metrics_path == path


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_spec_that_resolves_renders(case: str) -> None:
    """Every golden spec, on fewer and on more GPUs than it names: render never raises once resolved."""
    for inventory in (["0"], [str(i) for i in range(8)]):
        resolved = resolve_stack(StackSpec.model_validate(CASES[case]), KEYS, lambda inv=inventory: inv)
        assert render_stack(resolved, Workspace(ROOT), STACK_FILE).files


def test_render_and_engines_never_refuse_a_spec() -> None:
    """Refusing a spec is validation's or resolve_stack's job: no SpecError below render/ and engines/."""
    src = Path(__file__).resolve().parents[3] / "src" / "taustack"
    for module in [*(src / "render").glob("*.py"), *(src / "engines").glob("*.py")]:
        assert "SpecError" not in module.read_text(), module
