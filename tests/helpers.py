"""Small helpers shared by tests: write a stack file, run the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# real tau2-bench data the tests and benchmarks read (MIT, see tests/data/README.md)
TAU2_RESULTS = ROOT / "tests" / "data" / "tau2-results"
AIRLINE_RESULTS = TAU2_RESULTS / "gpt-4.1_airline_default_1trial.json"
DOMAINS = ROOT / "src" / "taustack" / "dataset" / "domains"


def write_stack(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`taustack ARGS` in a subprocess, from the project root, capturing output."""
    return subprocess.run(
        [sys.executable, "-m", "taustack", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})},
    )
