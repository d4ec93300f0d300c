"""CI proof that the loop learns: a short `taustack model demo` (generated tasks -> oracle episodes through tau2 in the
trainer image -> dataset -> tokenizer and config -> full SFT from scratch -> export, HF + GGUF), served on llama-server
behind nginx and scored by tau2 (solo, mock) on held-out tasks at temperature 0, against the random tiny model on the
same tasks; `eval compare` (paired by task) must put the gain's whole 95% interval above 0."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.docker

TRAIN_TASKS = 2000
HELDOUT_TASKS = 100


def test_a_short_demo_loop_beats_the_random_model_on_held_out_tasks(tmp_path: Path, trainer_image: str,
                                                                    base_images: None) -> None:
    from taustack.training.demo_eval import compare, eval_run, served
    from taustack.training.demo_model import DemoPlan, make_demo_model

    started = time.monotonic()
    default = DemoPlan()
    plan = replace(default, train_tasks=TRAIN_TASKS, heldout_tasks=HELDOUT_TASKS,
                   sft={**default.sft, "warmup_steps": 20, "logging_steps": 10})
    made = make_demo_model(ROOT, tmp_path / "demo", plan, trainer_image, Console(stderr=True), ["test"])
    assert run_cli("model", "tiny", str(tmp_path / "random"), env={"HF_HUB_OFFLINE": "1"}).returncode == 0
    heldout = tmp_path / "demo" / "tasks" / "heldout.json"
    runs = {}
    for name, gguf in (("loop-random", tmp_path / "random" / "tiny.gguf"),
                       ("loop-demo", tmp_path / "demo" / "model" / "model.gguf")):
        with served(tmp_path / f"serve-{name}", gguf, name, 28097) as model:
            runs[name] = eval_run(model, tmp_path / "runs", name, heldout, 0.0, 1)
    compared = compare(runs["loop-random"], runs["loop-demo"])
    print(f"\n[measure] short demo loop: {made['seconds']}, {time.monotonic() - started:.0f}s in all; last loss "
          f"{made['curve'][-1]['loss']:.3f}\n{compared['table']}")
    (row,) = [row for row in compared["json"]["rows"] if row["domain"] == "mock"]
    assert row["tasks"] == HELDOUT_TASKS and row["successes_a"] == 0
    assert row["ci_low"] > 0, row  # the trained model's gain over random, paired by task, excludes 0
