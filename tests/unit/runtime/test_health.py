"""runtime/health.py's pure parts: which models a replica lacks, when it is ready, each replica's models."""

from __future__ import annotations

from taustack.runtime.health import group_models, is_ready, missing_models
from tests.unit.runtime.probe_data import group, healthy

MODELS = ("qwen2.5:0.5b", "llama3.2:1b")


def test_missing_models_in_the_group_order() -> None:
    replica = group().replicas[0]
    assert missing_models(healthy(replica, ("llama3.2:1b",)), MODELS) == ["qwen2.5:0.5b"]
    assert missing_models(healthy(replica, ()), MODELS) == list(MODELS)
    assert missing_models(healthy(replica, (*MODELS, "extra:1b")), MODELS) == []


def test_a_star_hides_the_list_so_nothing_counts_as_missing() -> None:
    """vLLM with an API key does not list its models: "*" stands for them."""
    assert missing_models(healthy(group().replicas[0], ("*",)), MODELS) == []


def test_ready_needs_an_answer_and_every_model() -> None:
    replica = group().replicas[0]
    assert is_ready(healthy(replica, MODELS), MODELS)
    assert is_ready(healthy(replica, ("*",)), MODELS)
    assert is_ready(healthy(replica, ()), ())
    assert not is_ready(healthy(replica, MODELS[:1]), MODELS)
    assert not is_ready(healthy(replica, MODELS, answered=False), MODELS)
    assert not is_ready(healthy(replica, ("*",), answered=False), MODELS)


def test_group_models_maps_every_replica_to_its_group_models() -> None:
    ollama, vllm = group(models=MODELS), group("vllm", 1, ("Qwen/Qwen2.5-7B",), port=8000)
    assert group_models([ollama, vllm]) == {"ollama-0": MODELS, "ollama-1": MODELS, "vllm-0": ("Qwen/Qwen2.5-7B",)}
    assert group_models([]) == {}
