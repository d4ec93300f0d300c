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
# added to run_cli's environment (tests/conftest.py puts GIT_DIR here for unit and golden tests)
SUBPROCESS_ENV: dict[str, str] = {}


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """`taustack ARGV` through main() in this process, inside click's CliRunner isolation: (exit code, stdout,
    stderr)."""
    from click.testing import CliRunner

    from taustack.cli.main import main

    with CliRunner().isolation() as (out, err, _):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
    return code, out.getvalue().decode(), err.getvalue().decode()


def write_stack(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`taustack ARGS` in a subprocess, from the project root, capturing output."""
    return subprocess.run(
        [sys.executable, "-m", "taustack", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **SUBPROCESS_ENV, **(env or {})},
    )


def start_server(argv: list[str], url: str, timeout_s: float = 10.0, env: dict[str, str] | None = None,
                 log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a server process and poll URL until it answers; a process that exits fails the test at once with
    its output (written to LOG, a temporary file when not given), and so does one still silent after TIMEOUT_S."""
    import tempfile
    import time

    import httpx
    import pytest

    with log.open("w+b") if log is not None else tempfile.TemporaryFile() as log_file:
        server = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=log_file, stderr=subprocess.STDOUT)

        def output() -> str:
            log_file.flush()
            log_file.seek(0)
            return log_file.read().decode(errors="replace")[-4000:]

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                httpx.get(url, timeout=1, trust_env=False)
                return server
            except httpx.HTTPError:
                pass
            code = server.poll()
            if code is not None:
                pytest.fail(f"{' '.join(argv)} exited {code} before {url} answered; its output:\n{output()}",
                            pytrace=False)
            if time.monotonic() >= deadline:
                stop_server(server)
                pytest.fail(f"{' '.join(argv)} did not answer {url} within {timeout_s:g}s; its output:\n"
                            f"{output()}", pytrace=False)
            time.sleep(0.05)


def stop_server(server: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Terminate a server started by start_server (killed when it does not stop within TIMEOUT_S)."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
