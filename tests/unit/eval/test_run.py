"""`taustack eval run` for real: tau2 26.3 (orchestrator, mock environment, user simulator, evaluator) against the
fake vLLM server on this host (an OpenAI endpoint that requires a key), through the CLI as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, run_cli, start_server, stop_server

KEY = "sk-eval-test-" + "s3cr3t" * 4
FAKE_VLLM = ROOT / "tests" / "fakes" / "vllm" / "fake_vllm.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fake_endpoint(latency_ms: int) -> Iterator[str]:
    port = free_port()
    server = start_server([sys.executable, str(FAKE_VLLM), "Qwen/Qwen2.5-7B-Instruct", "--served-model-name", "qwen",
                           "--port", str(port), "--api-key", KEY, "--enable-auto-tool-choice", "--tool-call-parser",
                           "hermes", "--max-model-len", "65536"], f"http://127.0.0.1:{port}/health",
                          env={"FAKE_LATENCY_MS": str(latency_ms), "FAKE_TOKEN_DELAY_MS": "0"})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    yield from fake_endpoint(0)


@pytest.fixture(scope="module")
def slow_endpoint() -> Iterator[str]:
    yield from fake_endpoint(150)


def eval_args(url: str, runs: Path, name: str, *more: str, domain: str = "mock") -> list[str]:
    return ["eval", "run", "--agent-model", "qwen", "--agent-url", url, "--agent-key-env", "EVAL_KEY",
            "--user-model", "qwen", "--user-url", url, "--user-key-env", "EVAL_KEY", "--domain", domain,
            "--num-tasks", "2", "--trials", "2", "--max-steps", "6", "--concurrency", "2", "--name", name,
            "--runs-dir", str(runs), *more]


def load_results(path: Path) -> object:
    from tau2.data_model.simulation import Results

    return Results.model_validate_json(path.read_text())


def every_file_text(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def test_a_run_writes_what_tau2_loads_and_no_key(endpoint: str, tmp_path: Path) -> None:
    result = run_cli(*eval_args(endpoint, tmp_path, "r1"), env={"EVAL_KEY": KEY})
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "r1"
    results = load_results(run / "results" / "qwen__mock__default.json")
    simulations = results.simulations  # type: ignore[attr-defined]
    assert sorted((s.task_id, s.trial) for s in simulations) == sorted(
        (t, k) for t in ("create_task_1", "create_task_1_with_env_assertions") for k in (0, 1))
    assert {s.trial: s.seed for s in simulations} == {0: 626729, 1: 373753}  # tau2's own per-trial seeds from 300
    agent_args = results.info.agent_info.llm_args  # type: ignore[attr-defined]
    assert agent_args["temperature"] == 0.0 and "api_key" not in agent_args
    assert all(s.messages for s in simulations), "every simulation talked to the endpoint"
    manifest = json.loads((run / "manifest.json").read_text())
    cell = manifest["cells"][0]
    assert (cell["domain"], cell["mode"], cell["trials"], cell["split"]) == ("mock", "default", 2, "base")
    assert set(cell["task_hashes"]) == set(cell["task_ids"]) and manifest["tau2_version"] == "26.3"
    assert cell["agent_model"]["key_source"] == "EVAL_KEY"
    assert KEY not in every_file_text(run)
    assert (run / "errors.jsonl").read_text() == ""

    report = run_cli("eval", "report", str(run), "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["schema_version"] == 1 and (run / "report.json").is_file()
    compare = run_cli("eval", "compare", str(run), str(run), "--json")
    assert compare.returncode == 0, compare.stderr
    row = json.loads(compare.stdout)["rows"][0]
    assert (row["domain"], row["mode"], row["tasks"], row["gained"], row["lost"], row["diff"]) == (
        "mock", "default", 2, 0, 0, 0.0)


def test_kill_mid_run_then_resume_runs_only_what_is_missing(slow_endpoint: str, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "taustack", *eval_args(slow_endpoint, tmp_path, "r2", "--concurrency", "1")]
    run = tmp_path / "r2"
    journal = run / "journal" / "qwen__mock__default.jsonl"
    process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "EVAL_KEY": KEY}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (journal.is_file() and journal.read_text().count("\n") >= 1):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)  # the controller and its cell process, no chance to clean up
    process.wait()
    time.sleep(0.5)
    kept = [json.loads(line)["id"] for line in journal.read_text().splitlines() if line.strip()]
    assert 1 <= len(kept) < 4
    result = run_cli("eval", "run", "--resume", str(run), env={"EVAL_KEY": KEY})
    assert result.returncode == 0, result.stderr[-3000:]
    simulations = load_results(run / "results" / "qwen__mock__default.json").simulations  # type: ignore[attr-defined]
    assert len({(s.task_id, s.trial) for s in simulations}) == len(simulations) == 4
    assert set(kept) <= {s.id for s in simulations}, "finished simulations are kept, not run again"
    assert KEY not in every_file_text(run)


def test_ctrl_c_stops_the_cells_and_keeps_what_finished(slow_endpoint: str, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "taustack", *eval_args(slow_endpoint, tmp_path, "r6", "--concurrency", "1")]
    journal = tmp_path / "r6" / "journal" / "qwen__mock__default.jsonl"
    # a terminal's Ctrl-C; a shell's background job (as CI may be) starts with SIGINT ignored, so restore it
    process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "EVAL_KEY": KEY}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (journal.is_file() and journal.read_text().count("\n") >= 1):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be stopped"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)  # the controller only, as a terminal's Ctrl-C reaches it
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.strip().splitlines()[-1] == (
        f"Error: interrupted: taustack eval run --resume {tmp_path / 'r6'} continues it")
    partial = load_results(tmp_path / "r6" / "results" / "qwen__mock__default.json")
    assert 1 <= len(partial.simulations) < 4  # type: ignore[attr-defined]


def test_a_cell_stops_when_its_controller_is_killed(slow_endpoint: str, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "taustack", *eval_args(slow_endpoint, tmp_path, "r7", "--concurrency", "1")]
    journal = tmp_path / "r7" / "journal" / "qwen__mock__default.jsonl"
    process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "EVAL_KEY": KEY}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (journal.is_file() and journal.read_text().count("\n") >= 1):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.1)
    process.kill()  # the controller alone: its cell notices within a second and writes what it has
    process.wait()
    results = tmp_path / "r7" / "results" / "qwen__mock__default.json"
    deadline = time.monotonic() + 30
    while not results.is_file():
        assert time.monotonic() < deadline, "the orphaned cell did not stop"
        time.sleep(0.2)
    size = journal.stat().st_size
    time.sleep(2)
    assert journal.stat().st_size == size, "the cell still runs simulations after its controller died"


def test_an_unreachable_user_endpoint_is_an_infrastructure_error_per_simulation(endpoint: str,
                                                                                tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    args = eval_args(endpoint, tmp_path, "r3", "--skip-preflight", "--max-retries", "0", "--trials", "1")
    args[args.index("--user-url") + 1] = dead
    result = run_cli(*args, env={"EVAL_KEY": KEY})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: 2 simulation(s) ended in an infrastructure error")
    errors = [json.loads(line) for line in (tmp_path / "r3" / "errors.jsonl").read_text().splitlines()]
    assert [(e["kind"], e["role"]) for e in errors] == [("infrastructure", "user")] * 2
    simulations = load_results(tmp_path / "r3" / "results" / "qwen__mock__default.json").simulations  # type: ignore
    assert {s.termination_reason.value for s in simulations} == {"user_error"}
    assert {s.id for s in simulations} == {e["simulation_id"] for e in errors}


@pytest.mark.parametrize(("domain", "extra", "message"), [
    ("airline", ["--mode", "no-user"], "--mode no-user --domain airline: no task of it has a ticket"),
    ("mock", ["--agent", "no_such_agent"], "--agent no_such_agent: not an agent registered with tau2"),
    ("mock", ["--split", "nope"], "--domain mock: Invalid task split name: nope"),
    ("airline", ["--split", "nope"],
     "--domain airline: domain airline has no task split 'nope' (it has base, test, train)"),
    ("nowhere", [], "--domain nowhere: unknown (one of airline, retail, telecom, telecom-workflow, mock)"),
])
def test_bad_input_is_one_line_and_writes_nothing(endpoint: str, tmp_path: Path, domain: str, extra: list[str],
                                                  message: str) -> None:
    args = eval_args(endpoint, tmp_path, "bad", "--skip-preflight", *extra, domain=domain)
    result = run_cli(*args, env={"EVAL_KEY": KEY})
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"Error: {message}"), result.stderr
    assert not (tmp_path / "bad").exists()


def test_preflight_names_the_endpoint_that_does_not_answer(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = run_cli(*eval_args(dead, tmp_path, "r4"), env={"EVAL_KEY": KEY})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: preflight: agent model qwen at {dead}/v1: connection refused (--skip-preflight to run anyway)")
    assert not (tmp_path / "r4").exists()


def test_preflight_refuses_a_wrong_key(endpoint: str, tmp_path: Path) -> None:
    result = run_cli(*eval_args(endpoint, tmp_path, "r5"), env={"EVAL_KEY": "sk-wrong"})
    assert result.returncode == 1
    assert "preflight: agent model qwen" in result.stderr and "answered 401" in result.stderr
    assert "sk-wrong" not in result.stderr


def test_a_grid_of_modes_runs_each_cell_in_its_own_process(endpoint: str, tmp_path: Path) -> None:
    args = eval_args(endpoint, tmp_path, "grid", "--mode", "default", "--mode", "no-user", "--parallel", "2",
                     "--trials", "1")
    result = run_cli(*args, env={"EVAL_KEY": KEY})
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "grid" / "manifest.json").read_text())
    assert [(c["id"], c["tau2_agent"], c["tau2_user"]) for c in manifest["cells"]] == [
        ("qwen__mock__default", "llm_agent", "user_simulator"),
        ("qwen__mock__no-user", "llm_agent_solo", "dummy_user")]
    assert manifest["cells"][1]["user_model"] is None
    solo = load_results(tmp_path / "grid" / "results" / "qwen__mock__no-user.json")
    assert solo.info.agent_info.implementation == "llm_agent_solo"  # type: ignore[attr-defined]
    assert len(solo.simulations) == 2  # type: ignore[attr-defined]
    assert all(t.ticket for t in solo.tasks)  # type: ignore[attr-defined]
