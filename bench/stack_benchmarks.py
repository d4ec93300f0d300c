"""Benchmarks of the balancer on the CPU stack, with fake Ollama replicas (tests/fakes/ollama), printing numbers.

    (a) nginx's added latency over a direct replica call, at 1 and 32 concurrent requests, and the throughput ratio
    (b) least_conn against round robin: p99 of short requests when 10% of requests are 50x longer
    (c) episode affinity: first token on turns >= 2 of replayed tau2 episodes of three domains (each with its policy
        as system prompt), 2 llama-server replicas of the tiny model, 4, 8 and 16 concurrent episodes: least_conn,
        the consistent-hash pool and the session router, alternated
    (d) throughput with 1, 2 and 4 replicas of a fake with a fixed service time and 2 slots each
    (e) a replica's engine crashing under load: errors seen by clients, time until it serves again
    (f) 1,000 concurrent streams through nginx: errors
    (s) `taustack status` on 8 replicas: seconds, whole process
    (t) start-up: `taustack --help` and `taustack dataset make --help`, CPU seconds of the whole process, beside a
        bare `python -c pass` (no Docker needed)

Each scenario starts its own stack with `taustack up` (project taustack-bench, ports 31434+), measures with
`taustack bench` (side by side where there is a baseline), prints one line per number, and checks loose bounds
only (these machines are noisy). Run from the repo root after `make images`: .venv/bin/python bench/stack_benchmarks.py
(c) needs models/tiny (made here if missing) and the tau2 data in tests/data.
Name scenarios to run only those: bench/stack_benchmarks.py b c
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from taustack.loadgen.report import percentile
from taustack.versions import NGINX_LOCAL_IMAGE

ROOT = Path(__file__).resolve().parents[1]
TAU2_RESULTS = ROOT / "tests" / "data" / "tau2-results"
FAKE = "taustack-test/fake-ollama:latest"
MODEL = "qwen2.5:0.5b"
PORT = 31434
failures: list[str] = []


def taustack(*args: str, folder: Path, project: str = "taustack-bench") -> subprocess.CompletedProcess[str]:
    """A taustack command on the scenario's stack; its secrets in the scenario's own .env, never the user's."""
    argv = [sys.executable, "-m", "taustack", *args, "--stack", str(folder / "stack.yaml"),
            "--generated-dir", str(folder / "generated"), "--project-name", project]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "TAUSTACK_ENV_FILE": str(folder / ".env")})


class Stack:
    """A stack for one scenario (fake Ollama replicas unless a spec is given); always taken down."""

    def __init__(self, replicas: int = 1, parallel: int = 1, extra: dict[str, str] | None = None, port: int = PORT,
                 strategy: str = "least_conn", project: str = "taustack-bench",
                 spec: dict[str, Any] | None = None, affinity: str = "router") -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="taustack-bench-"))
        self.project = project
        spec = spec or {"ollama": {"image": FAKE, "replicas": replicas, "port": port, "models": [MODEL],
                                   "env": {"num_parallel": parallel, "extra": extra or {}}}}
        spec["balancer"] = {"image": NGINX_LOCAL_IMAGE, "strategy": strategy, "affinity": affinity}
        (self.folder / "stack.yaml").write_text(yaml.safe_dump(spec))

    def __enter__(self) -> Stack:
        result = taustack("up", "--timeout", "600", folder=self.folder, project=self.project)
        if result.returncode != 0:
            taustack("down", "--volumes", folder=self.folder, project=self.project)
            raise SystemExit(f"taustack up failed:\n{result.stderr[-3000:]}")
        return self

    def __exit__(self, *exc: object) -> None:
        taustack("down", "--volumes", folder=self.folder, project=self.project)


def bench(url: str, *args: str, model: str = MODEL) -> list[dict[str, Any]]:
    argv = [sys.executable, "-m", "taustack", "bench", url, "--model", model, "--json", "--max-error-rate", "1",
            *args]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
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


async def mixed_load(url: str, seconds: float, seed: int) -> dict[str, list[float]]:
    """4 clients for `seconds`: each request is long (50 tokens) with probability 0.1, else short (1 token)."""
    rng = random.Random(seed)
    times: dict[str, list[float]] = {"short": [], "long": [], "errors": []}
    deadline = time.monotonic() + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            kind = "long" if rng.random() < 0.1 else "short"
            body = {"model": MODEL, "stream": False, "messages": [{"role": "user", "content": "hi"}],
                    "options": {"num_predict": 50 if kind == "long" else 1}}
            started = time.perf_counter()
            try:
                response = await client.post(f"{url}/api/chat", json=body)
                times[kind if response.status_code == 200 else "errors"].append(time.perf_counter() - started)
            except httpx.HTTPError:
                times["errors"].append(0.0)

    async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(4)))
    return times


def least_conn_vs_round_robin() -> None:
    """Both balancers at once over their own 4 one-slot replicas (20 ms per token), the same load on each."""
    extra = {"FAKE_TOKEN_DELAY_MS": "20", "FAKE_TOKENS": "50"}  # num_predict cuts short ones to 1
    with Stack(4, 1, extra, PORT, "least_conn", "taustack-bench-lc"), \
            Stack(4, 1, extra, PORT + 1000, "round_robin", "taustack-bench-rr"):

        async def both() -> list[dict[str, list[float]]]:
            return list(await asyncio.gather(mixed_load(f"http://127.0.0.1:{PORT}", 12, 1),
                                             mixed_load(f"http://127.0.0.1:{PORT + 1000}", 12, 1)))

        least, robin = asyncio.run(both())
    ratio = percentile(robin["short"], 0.99) / percentile(least["short"], 0.99)
    for name, times in (("least_conn", least), ("round robin", robin)):
        print(f"(b) {name:11s}: {len(times['short'])} short, {len(times['long'])} long, {len(times['errors'])} "
              f"errors; short p50 {percentile(times['short'], 0.5) * 1000:.0f} ms, "
              f"short p99 {percentile(times['short'], 0.99) * 1000:.0f} ms")
    print(f"(b) short-request p99, round robin / least_conn: {ratio:.2f}")
    check(not least["errors"] and not robin["errors"], "(b) errors")
    check(ratio > 1.0, f"(b) round robin's short p99 is not above least_conn's (ratio {ratio:.2f})")


AFFINITY_DOMAINS = ("airline", "retail", "telecom")
AFFINITY_EPISODES = (4, 8, 16)
AFFINITY_MODES = ("least_conn", "hash", "router")
AFFINITY_TURNS = 6  # requests per concurrent episode in a run
AFFINITY_THINK_S = 0.5  # between an episode's turns: the user simulator's and tools' time in a real tau2 episode
# loose: router p50 at most this times least_conn's on turns >= 2 (noisy: 20 turns at 4, queueing at 16)
AFFINITY_BOUND = {4: 1.5, 8: 1.1, 16: 1.6}


def restart_replicas(stack: Stack, port: int, replicas: int) -> None:
    """Cold prompt caches (slots and host memory) for the next run: every replica restarted and answering, and
    the router (if any) seeing them all healthy."""
    project = f"label=com.docker.compose.project={stack.project}"
    ids = subprocess.run(["docker", "ps", "-q", "--filter", project, "--filter", "label=io.taustack.replica"],
                         capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["docker", "restart", "-t", "2", *ids], capture_output=True, check=True)
    router = subprocess.run(["docker", "ps", "-q", "--filter", project, "--filter", "label=io.taustack.role=router"],
                            capture_output=True, text=True, check=True).stdout.split()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if all(httpx.get(f"http://127.0.0.1:{port + 1 + i}/health", timeout=2).status_code == 200
                   for i in range(replicas)):
                break
        time.sleep(0.3)
    while router and time.monotonic() < deadline:
        workers = subprocess.run(["docker", "exec", router[0], "curl", "-fsS", "http://127.0.0.1:30000/workers"],
                                 capture_output=True, text=True, check=False).stdout
        with contextlib.suppress(ValueError):
            listed = json.loads(workers).get("workers", [])
            if len(listed) == replicas and all(worker.get("is_healthy") for worker in listed):
                return
        time.sleep(0.5)
    if router:
        raise SystemExit(f"(c) the router of {stack.project} does not see its workers healthy: {workers[-500:]}")


def session_affinity() -> None:
    """Mixed tau2 episodes (airline, retail, telecom, each with its domain's policy as system prompt) replayed turn
    by turn on 2 llama-server replicas of the tiny model (4 slots of 32768 tokens each, its host-memory prompt
    cache on), 0.5 s on average between an episode's turns (where tau2's user simulator and tools take their time):
    least_conn (no X-Session-ID), the consistent-hash pool and the router, at 4, 8 and 16 concurrent episodes, the
    modes in alternating order over two repeats, every run on freshly restarted replicas."""
    if not (ROOT / "models" / "tiny" / "tiny.gguf").is_file():
        subprocess.run([sys.executable, "-m", "taustack", "model", "tiny", "models/tiny"], cwd=ROOT, check=True)
    sources = [arg for domain in AFFINITY_DOMAINS
               for arg in ("--prompts", f"tau2:{TAU2_RESULTS / f'gpt-4.1_{domain}_default_1trial.json'}")]
    engine = {"model": "models/tiny/tiny.gguf", "model_name": "tiny", "replicas": 2, "threads": 1, "slots": 4,
              "context_size": 32768}
    ports = {"router": PORT, "hash": PORT + 10}
    stacks = {affinity: Stack(spec={"llamacpp": {**engine, "port": port}}, affinity=affinity,
                              project=f"taustack-bench-{affinity}") for affinity, port in ports.items()}
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with stacks["router"], stacks["hash"]:
        for repeat in range(2):
            for episodes in AFFINITY_EPISODES:
                for mode in AFFINITY_MODES[::1 if repeat % 2 == 0 else -1]:
                    affinity = "hash" if mode == "hash" else "router"
                    restart_replicas(stacks[affinity], ports[affinity], 2)
                    (summary,) = bench(f"http://127.0.0.1:{ports[affinity]}", *sources,
                                       "--no-sessions" if mode == "least_conn" else "--sessions",
                                       "--concurrency", str(episodes), "--requests", str(episodes * AFFINITY_TURNS),
                                       "--think-time", str(AFFINITY_THINK_S),
                                       "--max-tokens", "4", "--timeout", "300", model="tiny")
                    runs.setdefault((mode, episodes), []).append(summary)
                    later = summary["ttft_later_turns_ms"]
                    print(f"(c) {episodes:2d} episodes, {mode:10s}: {summary['requests']} requests, "
                          f"{summary['errors']} errors; first token on turns >= 2: p50 {later['p50']:.0f} ms, "
                          f"p90 {later['p90']:.0f} ms; episodes per replica {summary['episodes_per_replica']}, "
                          f"{summary['sticky_episodes']:.0%} on one replica", flush=True)
                    check(summary["errors"] == 0, f"(c) {mode} {episodes}: {summary['errors_by_kind']}")
    for episodes in AFFINITY_EPISODES:
        p50 = {mode: statistics.median(run["ttft_later_turns_ms"]["p50"] for run in runs[(mode, episodes)])
               for mode in AFFINITY_MODES}
        p90 = {mode: statistics.median(run["ttft_later_turns_ms"]["p90"] for run in runs[(mode, episodes)])
               for mode in AFFINITY_MODES}
        print(f"(c) {episodes:2d} episodes, first token on turns >= 2, median of 2 runs: "
              + "; ".join(f"{mode} p50 {p50[mode]:.0f} ms p90 {p90[mode]:.0f} ms" for mode in AFFINITY_MODES)
              + f"; router / least_conn p50 {p50['router'] / p50['least_conn']:.2f}, "
              f"hash / least_conn {p50['hash'] / p50['least_conn']:.2f}")
        for run in runs[("router", episodes)]:
            homes = list(run["episodes_per_replica"].values())
            check(len(homes) == 2 and max(homes) - min(homes) <= 1 and run["sticky_episodes"] == 1.0,
                  f"(c) router, {episodes} episodes: placed {run['episodes_per_replica']}, "
                  f"{run['sticky_episodes']:.0%} sticky")
        check(p50["router"] <= AFFINITY_BOUND[episodes] * p50["least_conn"],
              f"(c) router / least_conn p50 at {episodes} episodes: {p50['router'] / p50['least_conn']:.2f}")


def status_speed() -> None:
    """`taustack status` on 8 replicas: the whole command (a new process, as a user runs it), 5 times."""
    with Stack(8, 1, {}) as stack:
        taken = []
        for _ in range(5):
            started = time.perf_counter()
            result = taustack("status", folder=stack.folder, project=stack.project)
            taken.append(time.perf_counter() - started)
            check(result.returncode == 0, f"(s) status exited {result.returncode}: {result.stderr[-300:]}")
    taken.sort()
    print(f"(s) taustack status, 8 replicas, whole process: median {taken[2]:.2f} s (min {taken[0]:.2f}, "
          f"max {taken[-1]:.2f})")
    check(taken[2] < 3.0, f"(s) status took {taken[2]:.2f} s")


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


def cpu_seconds(argv: list[str]) -> float:
    """User + system CPU of one whole process (and its children), as /usr/bin/time would report it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup() -> None:
    """Commands import only what they use: CPU of `--help`, median of 5, against Python's own start."""
    cli = str(Path(sys.executable).with_name("taustack"))
    commands = {"python -c pass": [sys.executable, "-c", "pass"], "taustack --help": [cli, "--help"],
                "taustack dataset make --help": [cli, "dataset", "make", "--help"]}
    medians = {}
    for label, argv in commands.items():
        samples = sorted(cpu_seconds(argv) for _ in range(5))
        medians[label] = samples[2]
        print(f"(t) {label}: median {samples[2]:.3f} s CPU (min {samples[0]:.3f}, max {samples[-1]:.3f})")
    for label in ("taustack --help", "taustack dataset make --help"):
        check(medians[label] <= 0.25, f"(t) {label} took {medians[label]:.3f} s CPU (target 0.25)")


def main() -> int:
    if sys.argv[1:] == ["t"]:  # start-up alone needs no images
        startup()
        return 1 if failures else 0
    subprocess.run(["docker", "build", "-q", "--build-arg", "BASE_IMAGE=taustack/python:bookworm", "-t", FAKE,
                    "-f", str(ROOT / "tests" / "fakes" / "ollama" / "Dockerfile"), str(ROOT / "tests" / "fakes")],
                   check=True, capture_output=True)
    scenarios = {"a": nginx_overhead, "b": least_conn_vs_round_robin, "c": session_affinity,
                 "d": replica_scaling, "e": crash_under_load, "f": thousand_streams, "s": status_speed,
                 "t": startup}
    chosen = sys.argv[1:] or list(scenarios)
    unknown = [name for name in chosen if name not in scenarios]
    if unknown:
        print(f"unknown scenario {unknown[0]!r}: choose from {', '.join(scenarios)}")
        return 1
    for name in chosen:
        scenarios[name]()
    if failures:
        print("bench bounds not met: " + "; ".join(failures))
        return 1
    print("bench: all loose bounds met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
