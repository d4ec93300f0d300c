"""Training, or a resumed run's going on: one place for both trainers (SFT and GRPO).

transformers' Trainer checks max_steps only after a step, so resuming from a checkpoint that is already at max_steps
trains one step past it (5.23: "step 61/60"). A checkpoint at or past max_steps is loaded and nothing is trained: the
run then saves that checkpoint's model, as a finished run would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taustack.training.recipe import TrainingError
from taustack.training.rundir import RunDir


def finished_checkpoint(run: RunDir, max_steps: int) -> tuple[Path, int] | None:
    """The run's last checkpoint and its step, when that step is at or past max_steps (> 0)."""
    last = run.last_checkpoint()
    if last is None or max_steps <= 0:
        return None
    try:
        step = int(json.loads((last / "trainer_state.json").read_text())["global_step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainingError(f"{last}: no readable trainer_state.json with a global_step to resume from "
                            f"({type(exc).__name__}: {exc})") from None
    return (last, step) if step >= max_steps else None


def train_or_resume(trainer: Any, output: Path, resume: bool) -> None:
    """trainer.train(), from the run's last checkpoint when resuming; a checkpoint already at max_steps is only
    loaded (transformers' own loading: full weights or a PEFT adapter)."""
    finished = finished_checkpoint(RunDir(output), trainer.args.max_steps) if resume else None
    if finished is None:
        trainer.train(resume_from_checkpoint=True if resume else None)
        return
    checkpoint, step = finished
    trainer._load_from_checkpoint(str(checkpoint))
    print(f"[taustack] {checkpoint.name} is at step {step}, max_steps {trainer.args.max_steps}: nothing left to "
          "train; its model is saved as the run's", flush=True)
