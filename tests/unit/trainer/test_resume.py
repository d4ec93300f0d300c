"""Which checkpoint a resumed run only loads: the last one, when it is at or past max_steps (transformers' Trainer
would train one step past it). The trainers' resume itself runs in tests/docker/test_training.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taustack.trainer.resume import finished_checkpoint
from taustack.training.recipe import TrainingError
from taustack.training.rundir import RunDir


def checkpoints(folder: Path, *steps: int) -> Path:
    for step in steps:
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        (folder / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


@pytest.mark.parametrize(("steps", "max_steps", "expected"), [
    ((8, 10), 10, 10),  # the last one (by number, not by name) is at max_steps
    ((4, 12), 8, 12),  # past it (max_steps lowered)
    ((4, 8), 12, None),  # steps left to train
    ((8,), -1, None),  # epochs, not steps: the Trainer stops by itself
    ((), 8, None),  # nothing to resume from
])
def test_a_checkpoint_at_max_steps_is_finished(tmp_path: Path, steps: tuple[int, ...], max_steps: int,
                                               expected: int | None) -> None:
    folder = checkpoints(tmp_path / "checkpoints", *steps) if steps else tmp_path / "checkpoints"
    found = finished_checkpoint(RunDir(tmp_path), max_steps)
    assert (found[1] if found else None) == expected
    if found:
        assert found[0] == folder / f"checkpoint-{expected}"


@pytest.mark.parametrize("state", [None, "{", '{"step": 3}'])
def test_a_checkpoint_without_a_readable_state_is_one_error_naming_it(tmp_path: Path, state: str | None) -> None:
    checkpoint = tmp_path / "checkpoints" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    if state is not None:
        (checkpoint / "trainer_state.json").write_text(state)
    with pytest.raises(TrainingError) as error:
        finished_checkpoint(RunDir(tmp_path), 4)
    assert str(checkpoint) in str(error.value) and "\n" not in str(error.value)
