"""GPU words -> device ids per replica, and the errors that name the field."""

from __future__ import annotations

import pytest

from taustack.engines.gpus import parse_gpu_word
from taustack.errors import SpecError
from taustack.stackfile.gpus import place_replicas


def no_inventory() -> list[str]:
    raise AssertionError("inventory must not be asked")


@pytest.mark.parametrize(
    ("gpus", "gpu_ids", "per", "replicas", "expected"),
    [
        ("cpu", [], None, None, [()]),
        ("cpu", [], None, 3, [(), (), ()]),
        (1, [], None, None, [("0",)]),
        (4, [], None, None, [("0",), ("1",), ("2",), ("3",)]),
        (4, [], 2, None, [("0", "1"), ("2", "3")]),
        (4, [], None, 2, [("0", "1"), ("2", "3")]),
        ("cpu", ["1", "3"], None, None, [("1",), ("3",)]),
        ("cpu", ["GPU-aaaaaaaa-1", "GPU-bbbbbbbb-2"], 2, None, [("GPU-aaaaaaaa-1", "GPU-bbbbbbbb-2")]),
    ],
)
def test_placement(gpus: int | str, gpu_ids: list[str], per: int | None, replicas: int | None,
                   expected: list[tuple[str, ...]]) -> None:
    assert place_replicas("ollama", gpus, gpu_ids, per, replicas, no_inventory) == expected


def test_all_asks_the_inventory() -> None:
    assert place_replicas("ollama", "all", [], None, None, lambda: ["0", "1"]) == [("0",), ("1",)]


def test_all_without_nvidia_smi_is_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SpecError, match=r"^ollama.gpus: 'all' needs nvidia-smi"):
        place_replicas("ollama", "all", [], None, None)


@pytest.mark.parametrize(
    ("gpus", "gpu_ids", "per", "replicas", "field"),
    [
        (4, [], None, 3, "ollama.replicas"),
        (4, [], 3, None, "ollama.gpus_per_replica"),
        (2, [], 4, None, "ollama.gpus_per_replica"),
        (4, [], 2, 4, "ollama.replicas"),
        (2, ["1"], None, None, "ollama.gpu_ids"),
        ("cpu", [], 2, None, "ollama.gpus_per_replica"),
    ],
)
def test_impossible_layouts_name_the_field(gpus: int | str, gpu_ids: list[str], per: int | None,
                                           replicas: int | None, field: str) -> None:
    with pytest.raises(SpecError, match=rf"^{field}: "):
        place_replicas("ollama", gpus, gpu_ids, per, replicas, no_inventory)


@pytest.mark.parametrize(("value", "expected"), [(0, "cpu"), (3, 3), (" 2 ", 2), ("0", "cpu"), ("ALL", "all"),
                                                 ("cpu", "cpu")])
def test_gpu_words(value: int | str, expected: int | str) -> None:
    assert parse_gpu_word(value) == expected


@pytest.mark.parametrize("value", [True, -1, "two", "-1"])
def test_bad_gpu_words(value: int | str) -> None:
    with pytest.raises(ValueError, match="GPU count, 'all' or 'cpu'"):
        parse_gpu_word(value)
