"""The committed demo model (serving/demo-model/) scored again as it was scored: `taustack model score` serves its GGUF
on llama-server behind nginx and runs tau2 for real (solo mode, mock domain) on the real tickets and on the committed
held-out tasks at temperature 0; every task's outcome must be the one recorded in scores.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.docker

MODEL = ROOT / "serving" / "demo-model"


def test_the_committed_demo_model_scores_every_task_as_recorded(tmp_path: Path, base_images: None) -> None:
    recorded = json.loads((MODEL / "scores.json").read_text(encoding="utf-8"))["demo"]
    result = run_cli("model", "score", str(MODEL / "model.gguf"), "--name", "rescore-demo", "--heldout",
                     str(MODEL / "heldout.json"), "--out", str(tmp_path), "--port", "28095", "--greedy-only",
                     timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    print(f"\n[measure] {result.stderr.strip()}")
    scored = json.loads((tmp_path / "scores-rescore-demo.json").read_text(encoding="utf-8"))
    for cell in ("real-t0", "heldout-t0"):
        now, then = scored[cell]["outcomes"], recorded[cell]["outcomes"]
        assert now.keys() == then.keys(), cell
        changed = {task: (then[task], now[task]) for task in now if now[task] != then[task]}
        first = dict(list(changed.items())[:5])
        assert not changed, f"{cell}: {len(changed)} tasks scored otherwise than recorded (recorded, now): {first}"
    solved = sum(rewards[0] >= 1.0 for rewards in scored["heldout-t0"]["outcomes"].values())
    assert solved > 0  # the recorded outcomes are a trained model's, not all zeros
