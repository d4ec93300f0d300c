"""Benchmarks of the balancer on the CPU stack, with fake Ollama replicas (tests/fakes/ollama), printing numbers.

    (a) nginx's added latency over a direct replica call, at 1 and 32 concurrent requests, and the throughput ratio
    (d) throughput with 1, 2 and 4 replicas of a fake with a fixed service time and 2 slots each
    (e) a replica's engine crashing under load: errors seen by clients, time until it serves again
    (f) 1,000 concurrent streams through nginx: errors

Each scenario starts its own stack with `taustack up` (project taustack-bench, ports 31434+), measures with
`taustack bench` (side by side where there is a baseline), prints one line per number, and checks loose bounds
only (these machines are noisy). Run from the repo root after `make images`: .venv/bin/python bench/stack_benchmarks.py
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
FAKE = "taustack-test/fake-ollama:latest"
MODEL = "qwen2.5:0.5b"
PORT = 31434
failures: list[str] = []


def taustack(*args: str, folder: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "taustack", *args, "--stack", str(folder / "stack.yaml"),
            "--generated-dir", str(folder / "generated"), "--project-name", "taustack-bench"]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


class Stack:
    """A fake Ollama stack for one scenario; always taken down."""

    def __init__(self, replicas: int, parallel: int, extra: dict[str, str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="taustack-bench-"))
        spec = {"ollama": {"image": FAKE, "replicas": replicas, "port": PORT, "models": [MODEL],
                           "env": {"num_parallel": parallel, "extra": extra}},
                "balancer": {"image": "taustack/nginx:bookworm"}}
        (self.folder / "stack.yaml").write_text(yaml.safe_dump(spec))

    def __enter__(self) -> Stack:
        result = taustack("up", "--timeout", "180", folder=self.folder)
        if result.returncode != 0:
            taustack("down", "--volumes", folder=self.folder)
            raise SystemExit(f"taustack up failed:\n{result.stderr[-3000:]}")
        return self

    def __exit__(self, *exc: object) -> None:
        taustack("down", "--volumes", folder=self.folder)


def bench(url: str, *args: str) -> list[dict[str, Any]]:
    argv = [sys.executable, "-m", "taustack", "bench", url, "--model", MODEL, "--json", "--max-error-rate", "1",
            *args]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise SystemExit(f"taustack bench failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def check(condition: bool, what: str) -> None:
    if not condition:
        failures.append(what)


def nginx_overhead() -> None:
    with Stack(1, 64, {"FAKE_TOKENS": "1", "FAKE_TOKEN_DELAY_MS": "0"}):
        for concurrency in (1, 32):
            direct, balancer = bench(f"http://127.0.0.1:{PORT + 1}", "--compare", f"http://127.0.0.1:{PORT}",
                                     "--no-stream", "--max-tokens", "1", "--concurrency", str(concurrency),
                                     "--requests", str(300 if concurrency == 1 else 1200))
            added = balancer["e2e_ms"]["p50"] - direct["e2e_ms"]["p50"]
            ratio = balancer["requests_per_s"] / direct["requests_per_s"]
            print(f"(a) concurrency {concurrency:2d}: direct p50 {direct['e2e_ms']['p50']:.2f} ms, through nginx "
                  f"{balancer['e2e_ms']['p50']:.2f} ms (+{added:.2f} ms); req/s {direct['requests_per_s']:.0f} vs "
                  f"{balancer['requests_per_s']:.0f} (ratio {ratio:.2f})")
            check(ratio > 0.2 and balancer["errors"] == 0, f"(a) nginx throughput ratio {ratio:.2f} at {concurrency}")


def replica_scaling() -> None:
    rates = {}
    for replicas in (1, 2, 4):
        with Stack(replicas, 2, {"FAKE_LATENCY_MS": "50", "FAKE_TOKENS": "1", "FAKE_TOKEN_DELAY_MS": "0"}):
            (summary,) = bench(f"http://127.0.0.1:{PORT}", "--no-stream", "--max-tokens", "1", "--concurrency", "16",
                               "--duration", "6")
            rates[replicas] = summary["requests_per_s"]
            print(f"(d) {replicas} replica(s), 2 slots, 50 ms service: {summary['requests_per_s']:.1f} req/s, "
                  f"p50 {summary['e2e_ms']['p50']:.0f} ms, per replica {summary['per_replica']}")
    print(f"(d) scaling 1 -> 2 -> 4 replicas: x{rates[2] / rates[1]:.2f}, x{rates[4] / rates[1]:.2f}")
    check(rates[4] > 1.5 * rates[1], f"(d) 4 replicas only x{rates[4] / rates[1]:.2f} of 1")


def crash_under_load() -> None:
    with Stack(3, 8, {"FAKE_LATENCY_MS": "100", "FAKE_TOKENS": "1", "FAKE_TOKEN_DELAY_MS": "0"}):
        result: list[list[dict[str, Any]]] = []
        runner = threading.Thread(target=lambda: result.append(bench(
            f"http://127.0.0.1:{PORT}", "--no-stream", "--concurrency", "8", "--duration", "8")))
        runner.start()
        time.sleep(2)
        crashed = time.monotonic()
        with contextlib.suppress(httpx.HTTPError):  # the crash answers nothing
            httpx.post(f"http://127.0.0.1:{PORT + 2}/-/crash", timeout=5)
        back = None
        while time.monotonic() - crashed < 30 and back is None:
            try:
                if httpx.get(f"http://127.0.0.1:{PORT + 2}/api/version", timeout=1).status_code == 200:
                    back = time.monotonic() - crashed
            except httpx.HTTPError:
                time.sleep(0.2)
        runner.join()
        (summary,) = result[0]
        print(f"(e) replica crash under 8 concurrent clients: {summary['requests']} requests, {summary['errors']} "
              f"errors {summary['errors_by_kind']}, replica serving again after {back:.1f} s" if back else
              f"(e) replica never came back; errors {summary['errors_by_kind']}")
        check(summary["errors"] == 0 and back is not None and back < 15, "(e) errors or no recovery")


def thousand_streams() -> None:
    with Stack(2, 1000, {"FAKE_TOKENS": "8", "FAKE_TOKEN_DELAY_MS": "100"}):
        (summary,) = bench(f"http://127.0.0.1:{PORT}", "--stream", "--concurrency", "1000", "--requests", "1000",
                           "--timeout", "120")
        print(f"(f) 1,000 concurrent streams through nginx: {summary['errors']} errors {summary['errors_by_kind']}, "
              f"first token p50 {summary['ttft_ms']['p50']:.0f} ms, p99 {summary['ttft_ms']['p99']:.0f} ms")
        check(summary["errors"] <= 10, f"(f) {summary['errors']} of 1000 streams failed")


def main() -> int:
    subprocess.run(["docker", "build", "-q", "--build-arg", "BASE_IMAGE=taustack/python:bookworm", "-t", FAKE,
                    str(ROOT / "tests" / "fakes" / "ollama")], check=True, capture_output=True)
    for scenario in (nginx_overhead, replica_scaling, crash_under_load, thousand_streams):
        scenario()
    if failures:
        print("bench bounds not met: " + "; ".join(failures))
        return 1
    print("bench: all loose bounds met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
