"""How saving grows with an eval run: tau2 26.3's run_domain against `taustack eval run`, 200 simulations each.

    (a) the saving alone, on 200 real simulations (tests/data: the airline run of ollama qwen2.5-7b, each used 4
        times): 26.3's way (after each simulation, read the whole results file, append, rewrite it with indent=2,
        as run_tasks._save does) against taustack's (append one line to the journal; one results file at the end)
    (b) whole runs side by side against one fake vLLM server on this host (tests/fakes/vllm, no latency): airline,
        50 tasks x 4 trials, max_steps 6, tau2's run_domain (RunConfig, save_to) and `taustack eval run`; the time
        of each quarter of the simulations shows whether a simulation costs more as the file grows

Not in CI (a few minutes): `make bench-eval` after `make setup-eval`.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "data" / "tau2-results" / "ollama_chat-qwen2.5-7b_airline_default_1trial.json"
FAKE_VLLM = ROOT / "tests" / "fakes" / "vllm" / "fake_vllm.py"
N = 200


def saving_alone(folder: Path) -> None:
    data = json.loads(SOURCE.read_text())
    simulations = [dict(s, id=f"{s['id']}-{k}") for k in range(4) for s in data["simulations"]][:N]
    header = {key: value for key, value in data.items() if key != "simulations"}

    rewrite = folder / "rewrite.json"
    rewrite.write_text(json.dumps({**header, "simulations": []}, indent=2))
    written = 0
    started = time.perf_counter()
    for simulation in simulations:
        with rewrite.open() as handle:
            checkpoint = json.load(handle)
        checkpoint["simulations"].append(simulation)
        text = json.dumps(checkpoint, indent=2)
        rewrite.write_text(text)
        written += len(text)
    rewrite_s = time.perf_counter() - started

    from taustack.eval.journal import Journal

    journal = Journal(folder / "journal.jsonl")
    started = time.perf_counter()
    for simulation in simulations:
        journal.append(simulation)
    final = json.dumps({**header, "simulations": simulations}, indent=2)
    (folder / "final.json").write_text(final)
    append_s = time.perf_counter() - started
    appended = journal.path.stat().st_size + len(final)
    print(f"(a) saving {N} simulations: 26.3's rewrite {rewrite_s:.2f}s, {written / 1e6:.0f} MB written; "
          f"journal + one final file {append_s:.3f}s, {appended / 1e6:.1f} MB written; "
          f"{rewrite_s / append_s:.0f}x the time, {written / appended:.0f}x the bytes")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TAU2_SIDE = """
import json, sys, time
from tau2.data_model.simulation import RunConfig
from tau2.run import run_domain
from taustack.eval.tau2_26_3 import use_keys_by_base_url
use_keys_by_base_url({})  # litellm 1.106 imports the mcp package for any call with tools unless told not to
url, folder = sys.argv[1], sys.argv[2]
args = {"temperature": 0.0, "api_base": url}
config = RunConfig(domain="airline", agent="llm_agent", llm_agent="openai/qwen", llm_args_agent=args,
                   user="user_simulator", llm_user="openai/qwen", llm_args_user=dict(args), num_trials=4,
                   max_steps=6, max_concurrency=3, seed=300, save_to="tau2-run", results_dir=folder,
                   llm_args_judge={}, log_level="ERROR")
run_domain(config)
"""


def quarters(stamps: list[float], started: float) -> str:
    stamps = sorted(stamps)
    edges = [started] + [stamps[(len(stamps) * q) // 4 - 1] for q in (1, 2, 3, 4)]
    return " / ".join(f"{b - a:.1f}" for a, b in itertools.pairwise(edges))


def whole_runs(folder: Path) -> None:
    port = free_port()
    env = {**os.environ, "FAKE_TOKEN_DELAY_MS": "0", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "OPENAI_API_KEY": "not-a-key"}
    server = subprocess.Popen([sys.executable, str(FAKE_VLLM), "Qwen/Qwen2.5-7B-Instruct", "--served-model-name",
                               "qwen", "--port", str(port), "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
                               "--max-model-len", "131072"], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        time.sleep(1.5)
        started = time.time()
        subprocess.run([sys.executable, "-c", TAU2_SIDE, url, str(folder)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=(folder / "tau2.log").open("w"))
        tau2_s = time.time() - started
        tau2_file = folder / "tau2-run.json"
        ends = [_epoch(s["end_time"]) for s in json.loads(tau2_file.read_text())["simulations"]]
        tau2_quarters = quarters(ends, started)

        started = time.time()
        subprocess.run([sys.executable, "-m", "taustack", "eval", "run", "--agent-model", "qwen", "--agent-url", url,
                        "--user-model", "qwen", "--user-url", url, "--domain", "airline", "--trials", "4",
                        "--max-steps", "6", "--concurrency", "3", "--name", "taustack-run", "--runs-dir",
                        str(folder)], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        ours_s = time.time() - started
        results = folder / "taustack-run" / "results" / "qwen__airline__default.json"
        ours_ends = [_epoch(s["end_time"]) for s in json.loads(results.read_text())["simulations"]]
        print(f"(b) {N} simulations, airline on the fake endpoint: tau2 run_domain {tau2_s:.1f}s (quarters "
              f"{tau2_quarters} s), results file {tau2_file.stat().st_size / 1e6:.1f} MB; taustack eval run "
              f"{ours_s:.1f}s (quarters {quarters(ours_ends, started)} s) with preflight and process start; "
              f"ratio {ours_s / tau2_s:.2f}")
    finally:
        server.terminate()
        server.wait()


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        saving_alone(Path(tmp))
        whole_runs(Path(tmp))


if __name__ == "__main__":
    main()
