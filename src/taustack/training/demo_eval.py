"""Score a GGUF model as any model is scored: served by the stack (llama.cpp's llama-server behind nginx), then
`taustack eval run --domain mock --mode no-user` on tau2's real mock tasks and on a held-out task file, at
temperature 0 (one trial: greedy trials are identical) and, for pass^1..pass^4, at a temperature with 4 trials.
Every step is the user-facing command, run as a user runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from taustack.errors import TaustackError
from taustack.fileio import write_atomic
from taustack.versions import NGINX_LOCAL_IMAGE

SAMPLED_TEMPERATURE = 0.7
SAMPLED_TRIALS = 4


@dataclass(frozen=True)
class Served:
    """A model served by its own stack: the balancer's URL and the name it answers to."""

    url: str
    name: str


def taustack(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    """The taustack CLI of this interpreter, output captured; a failure is one line naming the command."""
    result = subprocess.run([sys.executable, "-m", "taustack", *args], capture_output=True, text=True,
                            timeout=timeout, check=False, env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise TaustackError(f"`taustack {' '.join(args[:3])} ...` failed: {last}")
    return result


@contextmanager
def served(folder: Path, gguf: Path, name: str, port: int) -> Iterator[Served]:
    """`taustack up` a one-model llama.cpp stack (2 replicas, llama-server: tool calls parsed from the GGUF's
    template) under its own project and generated folder; `taustack down` afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    stack = folder / "stack.yaml"
    write_atomic(stack, yaml.safe_dump({
        "llamacpp": {"model": str(gguf.resolve()), "model_name": name, "server": "llama-server", "replicas": 2,
                     "threads": 1, "context_size": 4096, "slots": 2, "port": port},
        "balancer": {"image": NGINX_LOCAL_IMAGE}}, sort_keys=False))
    where = ["--stack", str(stack), "--generated-dir", str(folder / "generated"), "--project-name",
             f"taustack-score-{name}"]
    taustack("up", *where, "--timeout", "300")
    try:
        yield Served(f"http://127.0.0.1:{port}", name)
    finally:
        subprocess.run([sys.executable, "-m", "taustack", "down", *where], capture_output=True, check=False)


def eval_run(model: Served, runs: Path, name: str, tasks: Path | None, temperature: float, trials: int) -> Path:
    """One `taustack eval run` in solo mode on the mock domain (its real tasks, or a task file's)."""
    args = ["eval", "run", "--agent-model", model.name, "--agent-url", model.url, "--domain", "mock",
            "--mode", "no-user", "--trials", str(trials), "--agent-args", json.dumps({"temperature": temperature}),
            "--max-steps", "30", "--concurrency", "2", "--name", name, "--runs-dir", str(runs),
            "--skip-preflight"]  # its forced call proves nothing of a random baseline; `up` waited for answers
    taustack(*args, *(["--tasks", str(tasks)] if tasks is not None else []))
    return runs / name


def outcomes(run: Path) -> dict[str, list[float]]:
    """task id -> the rewards of its trials, from the run's tau2 results file."""
    (results,) = sorted((run / "results").glob("*.json"))
    data = json.loads(results.read_text(encoding="utf-8"))
    found: dict[str, list[float]] = {}
    for simulation in data["simulations"]:
        reward = (simulation.get("reward_info") or {}).get("reward") or 0.0
        found.setdefault(str(simulation["task_id"]), []).append(float(reward))
    return found


def report(run: Path) -> dict[str, Any]:
    """`taustack eval report --json`: pass^k with intervals, as eval report prints them."""
    parsed: dict[str, Any] = json.loads(taustack("eval", "report", str(run), "--json").stdout)
    return parsed


def score(model: Served, out: Path, heldout: Path, sampled: bool = True) -> dict[str, Any]:
    """The model's runs (real tasks and held-out, temperature 0; held-out sampled with 4 trials) under out/, and
    their reports and per-task outcomes."""
    cells = [("real-t0", None, 0.0, 1), ("heldout-t0", heldout, 0.0, 1)]
    if sampled:
        cells.append((f"heldout-t{SAMPLED_TEMPERATURE}", heldout, SAMPLED_TEMPERATURE, SAMPLED_TRIALS))
    scored: dict[str, Any] = {}
    for name, tasks, temperature, trials in cells:
        run = eval_run(model, out, f"{model.name}-{name}", tasks, temperature, trials)
        scored[name] = {"run": str(run), "temperature": temperature, "trials": trials, "report": report(run),
                        "outcomes": outcomes(run)}
    return scored


def compare(baseline: Path, candidate: Path) -> dict[str, Any]:
    """`taustack eval compare BASELINE CANDIDATE --json` (paired by task), and its printed table."""
    table = taustack("eval", "compare", str(baseline), str(candidate)).stdout
    parsed: dict[str, Any] = json.loads(taustack("eval", "compare", str(baseline), str(candidate), "--json").stdout)
    return {"table": table, "json": parsed}
