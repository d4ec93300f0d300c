"""`taustack eval run`: resolve the models, preflight them, plan the grid, run each cell in its own process.

Keys travel only in the cell processes' environments (one variable per key); afterwards every file of the run is
checked for every key's value. `--resume` continues a run directory from its manifest: finished simulations are
kept, the missing (task, trial) pairs run with the seeds tau2 gives those trials.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from taustack import __version__
from taustack.errors import TaustackError
from taustack.eval import serving
from taustack.eval.endpoints import Endpoint, ModelChoice, resolve
from taustack.eval.journal import latest_by_pair, read_lines, read_records
from taustack.eval.keys import check_no_keys
from taustack.eval.manifest import Cell, Manifest, ModelRecord, RunDir
from taustack.eval.plan import RunRequest, plan_cells, record
from taustack.eval.preflight import preflight
from taustack.fileio import write_atomic
from taustack.secrets import environment
from taustack.workspace import Workspace

EXIT_INFRA = 4
KEY_VARIABLE = "TAUSTACK_EVAL_KEY_{}"
# variables a cell process never inherits: keys it was not given
SCRUBBED = ("LITELLM_MASTER_KEY", "TAUSTACK_API_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "TOGETHERAI_API_KEY")


@dataclass
class Outcome:
    run_dir: RunDir
    failed_cells: list[str]
    infra_errors: int


class Keys:
    """One variable name per distinct key value; the values stay in this process."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def variable(self, endpoint: Endpoint) -> str | None:
        if not endpoint.key:
            return None
        for name, value in self.values.items():
            if value == endpoint.key:
                return name
        name = KEY_VARIABLE.format(len(self.values))
        self.values[name] = endpoint.key
        return name


def key_source(choice: ModelChoice) -> str | None:
    return choice.key_env if choice.url is not None else "gateway"


def new_run(request: RunRequest, runs_root: Path, workspace: Workspace, parallel: int, skip_preflight: bool,
            command: list[str], console: Console) -> Outcome:
    request.check()
    run_dir = RunDir(runs_root / request.name)
    if run_dir.path.exists():
        raise TaustackError(f"{run_dir.path} exists: --resume continues it, or choose another --name")
    spec, master_key, token = serving.load_stack(workspace)
    gateway = serving.gateway_of(spec, master_key)
    variables = environment(workspace.env_file)
    agents = [resolve(choice, gateway, variables) for choice in request.agent_models]
    user = resolve(request.user_model, gateway, variables) if request.user_model else None
    judge = resolve(request.judge_model, gateway, variables) if request.judge_model else None
    everything = [*agents, *([user] if user else []), *([judge] if judge else [])]
    if not skip_preflight:
        console.print(f"preflight: {len(everything)} endpoint(s) force a named tool call, streamed and not",
                      highlight=False)
        preflight(everything)
    from taustack.eval import tau2_26_3 as tau2

    tau2.quiet_imports()
    keys = Keys()
    agent_rows = []
    fingerprints = {}
    for choice, endpoint in zip(request.agent_models, agents, strict=True):
        served = serving.fingerprint(endpoint, spec, workspace.root, token)
        fingerprints[endpoint.name] = served
        model_file = model_file_of(served, workspace.root)
        agent_rows.append((endpoint, record(endpoint, keys.variable(endpoint), key_source(choice)), model_file))
    user_record = record(user, keys.variable(user), key_source(request.user_model)) if user and request.user_model \
        else None
    judge_record = record(judge, keys.variable(judge), key_source(request.judge_model)) \
        if judge and request.judge_model else None
    for other in (user, judge):
        if other is not None:
            fingerprints.setdefault(other.name, serving.fingerprint(other, spec, workspace.root, token))
    cells, notes = plan_cells(request, [(e, r, f) for e, r, f in agent_rows if r is not None], user_record,
                              judge_record)
    if request.nl_assertions:
        notes.append("natural-language assertions graded by the judge model: not comparable with the leaderboard")
    manifest = Manifest(name=request.name, created=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                        taustack_version=__version__, tau2_version=tau2.installed_version(), command=command,
                        cells=cells, serving=fingerprints, notes=notes)
    run_dir.make_folders()
    agent_configs(run_dir, request, cells, fingerprints)
    run_dir.write_manifest(manifest)
    for note in notes:
        console.print(f"note: {note}", highlight=False)
    return execute(run_dir, manifest, keys.values, parallel, console)


def deployments_of(fingerprint: dict[str, object]) -> list[dict[str, object]]:
    """A serving fingerprint's deployments (a gateway model may route to several), or the fingerprint itself."""
    deployments = fingerprint.get("deployments")
    entries = deployments if isinstance(deployments, list) else [fingerprint]
    return [entry for entry in entries if isinstance(entry, dict)]


def served_context(fingerprint: dict[str, object]) -> int | None:
    """The context the engine serves the model with (the smallest of its deployments), when the stack says."""
    sizes = [size for e in deployments_of(fingerprint) if isinstance(size := e.get("context_size"), int)]
    return min(sizes) if sizes else None


def agent_configs(run_dir: RunDir, request: RunRequest, cells: list[Cell], fingerprints: dict[str, Any]) -> None:
    """taustack's agents get their config through a file in the run directory (the served context filled in)."""
    if not request.agent.startswith("llm_agent_v2"):
        return
    from taustack.agents.config import AgentConfig, config_sha256, load_config

    config = load_config(request.agent_config) if request.agent_config else AgentConfig()
    digest = config_sha256(request.agent_config) if request.agent_config else None
    (run_dir.path / "agent-configs").mkdir(exist_ok=True)
    for cell in cells:
        effective = config.model_copy(deep=True)
        if effective.context.served_context_tokens is None:
            effective.context.served_context_tokens = served_context(fingerprints.get(cell.agent_model.name) or {})
        name = f"agent-configs/{cell.id}.yaml"
        text = yaml.safe_dump(effective.model_dump(), sort_keys=False)
        write_atomic(run_dir.path / name, text)
        cell.agent_config_file, cell.agent_config_sha256 = name, digest
        cell.agent_config = effective.model_dump()


def model_file_of(fingerprint: dict[str, object], root: Path) -> Path | None:
    for entry in deployments_of(fingerprint):
        if entry.get("model_file"):
            path = Path(str(entry["model_file"]))
            return path if path.is_absolute() else root / path
    return None


def resume_run(run_path: Path, workspace: Workspace, parallel: int, skip_preflight: bool,
               console: Console) -> Outcome:
    """Continue a run directory: the keys come again from the stack or the variables the manifest names."""
    run_dir = RunDir(run_path)
    manifest = run_dir.read_manifest()
    _, master_key, _ = serving.load_stack(workspace)
    variables = environment(workspace.env_file)
    values: dict[str, str] = {}
    endpoints: list[Endpoint] = []
    for cell in manifest.cells:
        for role, model in (("agent", cell.agent_model), ("user", cell.user_model), ("judge", cell.judge_model)):
            if model is None:
                continue
            key = key_value(model, master_key, variables)
            if model.key_env and key:
                values[model.key_env] = key
            endpoints.append(Endpoint(role, model.name, model.base_url, {}, model.via, key))
    if not skip_preflight:
        preflight(list({(e.role, e.base_url, e.name): e for e in endpoints}.values()))
    console.print(f"resuming {run_dir.path}: {len(manifest.cells)} cell(s)", highlight=False)
    return execute(run_dir, manifest, values, parallel, console)


def key_value(model: ModelRecord, master_key: str | None, variables: Mapping[str, str]) -> str | None:
    if model.key_source == "gateway":
        return master_key
    if model.key_source:
        value = variables.get(model.key_source)
        if not value:
            raise TaustackError(f"{model.key_source} is not set: the run's {model.name} endpoint needs it")
        return value
    return None


def cell_environment(run_dir: RunDir, cell: Cell, keys: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith("TAUSTACK_EVAL_KEY_")}
    for model in (cell.agent_model, cell.user_model, cell.judge_model):
        if model is not None and model.key_env and model.key_env in keys:
            env[model.key_env] = keys[model.key_env]
    # litellm's openai provider wants a key even for a server that has none; the real ones are set per call
    env["OPENAI_API_KEY"] = "not-a-key"
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("TAUSTACK_AGENT_CONFIG", None)
    if cell.agent_config_file:
        env["TAUSTACK_AGENT_CONFIG"] = str((run_dir.path / cell.agent_config_file).resolve())
    return env


def start_cell(run_dir: RunDir, cell: Cell, keys: dict[str, str]) -> subprocess.Popen[bytes]:
    log = run_dir.log(cell).open("ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "taustack.eval.worker", str(run_dir.path), cell.id],
                                env=cell_environment(run_dir, cell, keys), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    finally:
        log.close()


def stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def exclusive(run_dir: RunDir) -> Iterator[None]:
    """One controller per run directory (a second --resume while one runs would run pairs twice)."""
    with (run_dir.path / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TaustackError(f"{run_dir.path} is being run by another taustack eval run") from None
        yield


def execute(run_dir: RunDir, manifest: Manifest, keys: dict[str, str], parallel: int, console: Console) -> Outcome:
    """Run every cell (`parallel` at once); a cell that fails does not stop the others. Ctrl-C or SIGTERM stops the
    cells (SIGTERM: each writes its results so far), the cells ignore the terminal's Ctrl-C themselves."""
    with exclusive(run_dir):
        previous = signal.signal(signal.SIGTERM, stop)
        try:
            return run_cells(run_dir, manifest, keys, parallel, console)
        finally:
            signal.signal(signal.SIGTERM, previous)


def run_cells(run_dir: RunDir, manifest: Manifest, keys: dict[str, str], parallel: int, console: Console) -> Outcome:
    from taustack.eval.progress import RunProgress

    pending = list(manifest.cells)
    running: dict[str, tuple[Cell, subprocess.Popen[bytes]]] = {}
    codes: dict[str, int] = {}
    try:
        with RunProgress(run_dir, manifest.cells, console) as progress:
            while pending or running:
                while pending and len(running) < max(1, parallel):
                    cell = pending.pop(0)
                    running[cell.id] = (cell, start_cell(run_dir, cell, keys))
                for cell_id, (_, process) in list(running.items()):
                    if process.poll() is not None:
                        codes[cell_id] = process.returncode
                        del running[cell_id]
                progress.refresh(infra_by_cell(run_dir, manifest))
                time.sleep(0.5)
    except KeyboardInterrupt:
        for _, process in running.values():
            process.terminate()
        for _, process in running.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        finish(run_dir, manifest, keys)
        raise TaustackError(f"interrupted: taustack eval run --resume {run_dir.path} continues it") from None
    return finish(run_dir, manifest, keys, codes)


def infra_by_cell(run_dir: RunDir, manifest: Manifest) -> dict[str, set[str]]:
    return {cell.id: {str(e["simulation_id"]) for e in read_records(run_dir.cell_errors(cell))
                      if e.get("kind") == "infrastructure"} for cell in manifest.cells}


def finish(run_dir: RunDir, manifest: Manifest, keys: dict[str, str], codes: dict[str, int] | None = None) -> Outcome:
    """errors.jsonl for the simulations in the results (a rerun's error replaces the earlier one); the key check."""
    lines: list[str] = []
    infra = 0
    for cell in manifest.cells:
        final_ids = {sim_id for sim_id, _ in latest_by_pair(read_lines(run_dir.journal(cell))[0]).values()}
        for line in read_lines(run_dir.cell_errors(cell))[0]:
            error = json.loads(line)
            if str(error.get("simulation_id")) in final_ids:
                lines.append(line)
                infra += error.get("kind") == "infrastructure"
    write_atomic(run_dir.errors_file, "".join(line + "\n" for line in lines))
    check_no_keys(run_dir.path, list(keys.values()))
    failed = [cell_id for cell_id, code in (codes or {}).items() if code not in (0, EXIT_INFRA)]
    return Outcome(run_dir, failed, infra)
