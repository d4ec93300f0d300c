"""`taustack eval run` against the real stack: tau2 26.3 for real (orchestrator, mock environment, user simulator,
evaluator), the tiny model on llama-server behind nginx and the LiteLLM gateway as agent and user.

The tiny model's words are noise (simulations end at max_steps): the test checks the machinery (files tau2 loads, the
manifest, no key in any file, counts, kill and resume), never the scores. llama-server, not llama-cpp-python's server:
once an episode holds a tool call, the gateway sends that assistant turn with content null, and llama-cpp-python
0.3.36 drops the key and its chatml-function-calling template (StrictUndefined) fails every later turn with a 500.
Random weights fail the preflight's conformance check on llama-server (text, no call): the runs skip it (the check
itself is tested against real vLLM in test_vllm_stack.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docker.conftest import NGINX_IMAGE, RunningStack, start_stack
from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.docker
CELL = "tiny__mock__default"


@pytest.fixture(scope="module")
def eval_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    folder = tmp_path_factory.mktemp("eval-stack")
    assert run_cli("model", "tiny", str(folder / "tiny")).returncode == 0
    env_file = folder / ".env"
    env_file.write_text("")
    spec = {
        "llamacpp": {"model": str(folder / "tiny" / "tiny.gguf"), "model_name": "tiny", "server": "llama-server",
                     "replicas": 2, "threads": 1, "context_size": 8192, "port": 28380},
        "gateway": {"port": 24100, "models": [{"name": "tiny", "engine": "llamacpp", "model": "tiny"}]},
        "balancer": {"image": NGINX_IMAGE},
    }
    stack = start_stack(folder, "eval", spec, 28380, 2, env_file, timeout=240)
    try:
        yield stack
    finally:
        stack.cli("down", "--volumes")


def stack_env(stack: RunningStack) -> dict[str, str]:
    return {"TAUSTACK_ENV_FILE": str(stack.env_file), "TAUSTACK_GENERATED_DIR": str(stack.generated),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def eval_argv(runs: Path, name: str) -> list[str]:
    small = '{"max_tokens": 12}'
    return ["eval", "run", "--agent-model", "tiny", "--user-model", "tiny", "--agent-args", small, "--user-args",
            small, "--domain", "mock", "--num-tasks", "2", "--trials", "2", "--max-steps", "8", "--concurrency", "1",
            "--name", name, "--runs-dir", str(runs), "--skip-preflight"]


def master_key(stack: RunningStack) -> str:
    assert stack.env_file is not None
    line = next(li for li in stack.env_file.read_text().splitlines() if li.startswith("LITELLM_MASTER_KEY="))
    return line.split("=", 1)[1]


def test_eval_run_through_the_gateway_then_kill_and_resume(eval_stack: RunningStack, tmp_path: Path) -> None:
    run = tmp_path / "tiny-run"
    journal = run / "journal" / f"{CELL}.jsonl"
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "taustack", *eval_argv(tmp_path, "tiny-run")], cwd=ROOT,
                               env={**os.environ, **stack_env(eval_stack)}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    while not (journal.is_file() and journal.read_text().count("\n") >= 1):
        if process.poll() is not None:
            pytest.fail(f"eval run ended before it could be killed: {process.stderr.read().decode()[-3000:]}")  # type: ignore[union-attr]
        assert time.monotonic() - started < 300
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    kept = [json.loads(line)["id"] for line in journal.read_text().splitlines() if line.strip()]
    result = run_cli("eval", "run", "--resume", str(run), "--skip-preflight", env=stack_env(eval_stack))
    assert result.returncode == 0, result.stderr[-3000:]
    elapsed = time.monotonic() - started

    from tau2.data_model.simulation import Results

    results = Results.model_validate_json((run / "results" / f"{CELL}.json").read_text())
    mean = sum(s.duration for s in results.simulations) / len(results.simulations)
    print(f"\n[measure] eval run, 4 simulations (mock, max_steps 8, tiny model via the gateway), kill and resume "
          f"included: {elapsed:.1f}s in all, {elapsed / 4:.1f}s per simulation; {mean:.2f}s mean simulation duration")
    assert sorted((s.task_id, s.trial) for s in results.simulations) == sorted(
        (t, k) for t in ("create_task_1", "create_task_1_with_env_assertions") for k in (0, 1))
    assert set(kept) <= {s.id for s in results.simulations}
    assert all(len(s.messages) > 1 for s in results.simulations), "every simulation talked to the model"
    manifest = json.loads((run / "manifest.json").read_text())
    served = manifest["serving"]["tiny"]["deployments"][0]
    assert served["engine"] == "llamacpp" and served["server"] == "llama-server" and len(served["sha256"]) == 64
    assert manifest["cells"][0]["agent_model"]["via"] == "gateway"
    key = master_key(eval_stack)
    assert all(key not in p.read_text(errors="replace") for p in run.rglob("*") if p.is_file())

    report = run_cli("eval", "report", str(run), "--json")
    assert report.returncode == 0, report.stderr
    cells = json.dumps(json.loads(report.stdout))
    assert '"mock"' in cells and (run / "report.md").is_file() and (run / "report_pass_k.png").is_file()
    compare = run_cli("eval", "compare", str(run), str(run), "--json")
    assert compare.returncode == 0, compare.stderr
    overall = json.loads(compare.stdout)["overall"]
    assert (overall["tasks"], overall["gained"], overall["lost"]) == (2, 0, 0)


def test_llm_agent_v2_runs_through_the_stack(eval_stack: RunningStack, tmp_path: Path) -> None:
    """taustack's agent with an ablation config through `eval run`: the config reaches the cell's agents (served
    context from the fingerprint), its counters reach the results and the report (machinery, not scores)."""
    config = ROOT / "agents" / "ablations" / "no-protocol.yaml"
    argv = [*eval_argv(tmp_path, "v2-run"), "--agent", "llm_agent_v2", "--agent-config", str(config)]
    argv[argv.index("--num-tasks") + 1], argv[argv.index("--trials") + 1] = "1", "1"
    result = run_cli(*argv, env=stack_env(eval_stack))
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "v2-run"
    cell = json.loads((run / "manifest.json").read_text())["cells"][0]
    assert cell["tau2_agent"] == "llm_agent_v2"
    assert cell["agent_config"]["protocol"]["enabled"] is False
    assert cell["agent_config"]["context"]["served_context_tokens"] == 8192
    assert len(cell["agent_config_sha256"]) == 64
    from tau2.data_model.simulation import Results

    results = Results.model_validate_json((run / "results" / f"{CELL}.json").read_text())
    errors = (run / "errors.jsonl").read_text() if (run / "errors.jsonl").is_file() else ""
    assert len(results.simulations) == 1, errors
    assistants = [m for m in results.simulations[0].messages if m.role == "assistant" and m.raw_data is not None]
    assert assistants and all("taustack" in m.raw_data for m in assistants), errors  # tau2's greeting has none
    report = json.loads(run_cli("eval", "report", str(run), "--json").stdout)
    assert report["cells"][0]["agent"]["simulations"] == 1
