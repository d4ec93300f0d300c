"""`taustack train sft | export | status` (and grpo's launch, training/grpo_job.py): recipe + GPUs -> run directory
-> trainer container -> recorded outcome."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from taustack.errors import TaustackError
from taustack.fileio import write_atomic, write_json
from taustack.training import launch
from taustack.training.accelerate import DEFAULT_CONFIG, check_accelerate_config, launch_command
from taustack.training.devices import select_devices
from taustack.training.recipe import RecipeModel, TrainingError, dump_recipe, load_recipe
from taustack.training.rundir import RunDir, dataset_sha256, find_run, git_revision, list_runs, new_run_id
from taustack.versions import NGINX_LOCAL_IMAGE

DATA, MODEL, OUTPUT, CACHE = "/data", "/model", "/output", "/cache/huggingface"


@dataclass(frozen=True)
class LaunchOptions:
    """How `train sft` and `train grpo` start a run: recipe, GPUs, image, run directory, container settings."""

    recipe: Path | None
    gpus: str | None
    gpu_ids: str | None
    image: str
    runs_dir: Path
    name: str | None = None
    resume: str | None = None
    accelerate_config: Path | None = None
    shm_size: str | None = "8g"
    ipc_host: bool = False


def resolve(root: Path, value: str) -> Path:
    """A recipe path: absolute, else relative to the project root."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root / path)


def model_source(root: Path, model: str) -> tuple[str, list[launch.Mount]]:
    """A local model folder is mounted read-only at /model; anything else is a Hugging Face id (cache mounted)."""
    path = resolve(root, model)
    if path.is_dir():
        return MODEL, [launch.Mount(path.resolve(), MODEL)]
    if path.exists() or model.startswith((".", "/")) or model.count("/") != 1:
        raise TrainingError(f"model: {model!r} is neither a model folder nor a Hugging Face id (org/name)")
    return model, []


def hf_cache() -> launch.Mount:
    import os

    host = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    host.mkdir(parents=True, exist_ok=True)
    return launch.Mount(host.resolve(), CACHE, read_only=False)


def open_run(runs_dir: Path, resume: str | None, name: str) -> RunDir:
    """The run directory: a resumed run's (with a checkpoint to go on from), else a new one that must not exist."""
    if resume:
        run = RunDir(find_run(runs_dir, resume).path.resolve())
        if run.last_checkpoint() is None:
            raise TrainingError(f"run {run.id}: no checkpoint in {run.checkpoints} to resume from")
        return run
    run = RunDir(runs_dir.resolve() / new_run_id(name))
    if run.path.exists():
        raise TrainingError(f"run directory {run.path} exists already")
    return run


def open_recipe_run(root: Path, options: LaunchOptions, kind: str,
                    load: Callable[[Path], RecipeModel]) -> tuple[RunDir, RecipeModel]:
    """The run and its recipe: --resume's run with --recipe or its own recipe.yaml; else --recipe (default
    training/<kind>.yaml) and a new run named by --name, the recipe's name, or the kind."""
    if options.resume:
        run = open_run(options.runs_dir, options.resume, kind)
        return run, load(options.recipe or run.recipe)
    recipe = load(options.recipe or root / "training" / f"{kind}.yaml")
    return open_run(options.runs_dir, None, options.name or getattr(recipe, "name", None) or kind), recipe


def write_run_files(run: RunDir, options: LaunchOptions, recipe: BaseModel, accelerate_file: Path | None,
                    train_args: list[str], devices: tuple[str, ...], module: str) -> list[str]:
    """Make the run directory (recipe.yaml unless a resumed run keeps its own, accelerate.yaml for several GPUs);
    the container's command (with --resume when resuming)."""
    run.path.mkdir(parents=True, exist_ok=True)
    if not options.resume or options.recipe is not None:
        write_atomic(run.recipe, dump_recipe(recipe))
    if accelerate_file is not None:
        shutil.copyfile(accelerate_file, run.path / "accelerate.yaml")
    return launch_command([*train_args, *(["--resume"] if options.resume else [])], len(devices),
                          f"{OUTPUT}/accelerate.yaml" if accelerate_file else None, module=module)


def run_training(root: Path, run: RunDir, job: launch.Job, client: Any, info: dict[str, Any], resumed: bool,
                 console: Console) -> launch.Outcome:
    """run.json (provenance; `resumed` times appended), the container (logs streamed), state.json with its end."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = run.info() if resumed else {}
    record.update({**info, "id": run.id, "image": job.image, "git_revision": git_revision(root),
                   "devices": list(job.devices) or "cpu", "command": job.command, "container": job.name})
    record.setdefault("started", started)
    if resumed:
        record.setdefault("resumed", []).append(started)
    write_json(run.info_file, record)
    run.state_file.unlink(missing_ok=True)
    where = ", ".join(f"GPU {d}" for d in job.devices) or "the CPU"
    console.print(f"[bold]train[/] {run.id} on {where} ({job.image}); run directory {run.path}")
    outcome = launch.run_job(client, job)
    write_json(run.state_file, {
        "state": outcome.state, "exit_code": outcome.exit_code, "oom_killed": outcome.oom_killed,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    if outcome.state != "finished":
        raise TrainingError(f"training {run.id} failed: {outcome.describe()}; logs above, run directory {run.path}")
    trained = run.model if (run.model / "config.json").is_file() else run.adapter
    console.print(f"[bold green]finished[/] {run.id}: {summarize(run.metrics())}; {trained.name} {trained}")
    return outcome


def accelerate_file_for(root: Path, devices: tuple[str, ...], config: Path | None) -> Path | None:
    """Several GPUs need an accelerate config (checked); one GPU or the CPU none."""
    if len(devices) <= 1:
        return None
    path = resolve(root, str(config or DEFAULT_CONFIG))
    check_accelerate_config(path)
    return path


def sft(root: Path, options: LaunchOptions, console: Console) -> RunDir:
    """Validate everything, then make the run directory, run the trainer and record how it ended."""
    run, recipe = open_recipe_run(root, options, "sft", load_recipe)
    devices = select_devices(options.gpus, options.gpu_ids)
    dataset = resolve(root, recipe.dataset)
    digest = dataset_sha256(dataset)
    model_arg, model_mounts = model_source(root, recipe.model)
    accelerate_file = accelerate_file_for(root, devices, options.accelerate_config)
    client = launch.docker_client()
    launch.check_image(client, options.image)

    # from here on the run directory exists
    train_args = ["--recipe", f"{OUTPUT}/recipe.yaml", "--dataset", DATA, "--model", model_arg, "--output", OUTPUT]
    command = write_run_files(run, options, recipe, accelerate_file, train_args, devices, "taustack.trainer.train")
    job = launch.Job(
        run_id=run.id, kind="train", image=options.image, command=command,
        mounts=[launch.Mount(dataset.resolve(), DATA), *model_mounts, launch.Mount(run.path, OUTPUT, False),
                hf_cache()],
        devices=devices, shm_size=options.shm_size, ipc_host=options.ipc_host, env=launch.passed_environment(),
        user=launch.container_user(),
    )
    info = {"kind": "sft", "name": recipe.name or options.name, "model": recipe.model, "dataset": recipe.dataset,
            "dataset_sha256": digest}
    run_training(root, run, job, client, info, bool(options.resume), console)
    return run


def summarize(metrics: list[dict[str, Any]]) -> str:
    losses = [row["loss"] for row in metrics if "loss" in row]
    final: dict[str, Any] = next((row for row in reversed(metrics) if "train_steps_per_second" in row), {})
    parts = [f"{metrics[-1]['step']} steps" if metrics else "no metrics"]
    if losses:
        parts.append(f"last loss {losses[-1]:.4g}")
    rewards = [row["reward"] for row in metrics if "reward" in row]
    if rewards:
        parts.append(f"last reward {rewards[-1]:.3g}")
    if final:
        parts.append(f"{final['train_steps_per_second']:.3g} steps/s")
    return ", ".join(parts)


@dataclass(frozen=True)
class RunRow:
    id: str
    kind: str
    state: str
    steps: str
    loss: str
    reward: str
    started: str
    model: str
    data: str  # SFT: the dataset; GRPO: the tau2 domain and split


def run_row(run: RunDir, containers: dict[str, str] | None) -> RunRow:
    """One status row from the run directory; a run without state.json is as its container says."""
    info, state, metrics = run.info(), run.state(), run.metrics()
    if state is not None:
        word = state["state"] if state["state"] == "finished" else f"{state['state']} ({state['exit_code']})"
        if state.get("oom_killed"):
            word += " OOM"
    elif containers is None:
        word = "unknown (no Docker)"
    else:
        word = {"running": "running", "created": "starting"}.get(containers.get(run.id, ""), "unknown")
    step = next((row for row in reversed(metrics) if "step" in row), None)
    steps = f"{step['step']}/{step.get('max_steps', '?')}" if step else "-"
    loss = next((f"{row['loss']:.4g}" for row in reversed(metrics) if "loss" in row), "-")
    reward = next((f"{row['reward']:.3g}" for row in reversed(metrics) if "reward" in row), "-")
    environment = info.get("environment") or {}
    data = (f"tau2 {environment.get('domain')}/{environment.get('split')} ({len(environment.get('task_ids') or [])})"
            if environment else str(info.get("dataset", "-")))
    return RunRow(run.id, str(info.get("kind", "sft")), word, steps, loss, reward, str(info.get("started", "-")),
                  str(info.get("model", "-")), data)


def status(runs_dir: Path, console: Console) -> list[RunRow]:
    """A table of the runs in runs_dir, the running ones from their containers."""
    try:
        containers: dict[str, str] | None = launch.running_runs(launch.docker_client())
    except TaustackError:  # no Engine (DockerError) or no SDK: rows say so
        containers = None
    rows = [run_row(run, containers) for run in list_runs(runs_dir)]
    table = Table("run", "kind", "state", "steps", "last loss", "reward", "started", "model", "data", box=None)
    for row in rows:
        table.add_row(row.id, row.kind, row.state, row.steps, row.loss, row.reward, row.started, row.model, row.data)
    if rows:
        console.print(table)
    else:
        console.print(f"no runs in {runs_dir} (start one with `taustack train sft` or `taustack train grpo`)")
    return rows


def export(root: Path, runs_dir: Path, run_ref: str, merge: bool, gguf: bool, image: str,
           console: Console, gguf_writer: str = "auto", half: bool = False) -> RunDir:
    """Merge the adapter, or take a full-parameter run's model (and write a GGUF) in the trainer container, then say
    how to serve the result."""
    run = find_run(runs_dir, run_ref)
    full = (run.model / "config.json").is_file()
    if not full and not (run.adapter / "adapter_config.json").is_file():
        raise TrainingError(f"run {run.id} has no adapter ({run.adapter}) nor model ({run.model}): did it finish?")
    if merge or gguf or full:
        model_mounts: list[launch.Mount] = []
        source = ["--trained", f"{OUTPUT}/model"]
        if not full:
            base = str(run.info().get("model") or "")  # the base model, as the recipe named it (SFT or GRPO)
            if not base:
                raise TrainingError(f"run {run.id}: run.json names no model")
            model_arg, model_mounts = model_source(root, base)
            source = ["--adapter", f"{OUTPUT}/adapter", "--model", model_arg]
        client = launch.docker_client()
        launch.check_image(client, image)
        command = ["python", "-m", "taustack.trainer.export", *source, "--out", f"{OUTPUT}/export",
                   *(["--gguf", "--gguf-writer", gguf_writer] if gguf else []), *(["--half"] if half else [])]
        job = launch.Job(run_id=run.id, kind="export", image=image, command=command,
                         mounts=[*model_mounts, launch.Mount(run.path.resolve(), OUTPUT, False), hf_cache()],
                         env=launch.passed_environment(), user=launch.container_user())
        outcome = launch.run_job(client, job)
        if outcome.state != "finished":
            raise TrainingError(f"export of {run.id} failed: {outcome.describe()}")
    console.print(serving_hints(run, str(run.info().get("model", "<base model>")), gguf))
    return run


def serving_hints(run: RunDir, base_model: str, gguf: bool) -> str:
    """How to serve what a run made: vLLM with the LoRA adapter or the merged model, llama.cpp, Ollama."""
    name = run.id.split("-", 2)[-1] if run.id.count("-") >= 2 else run.id
    lines = [f"Serve run {run.id}:", ""]
    if (run.adapter / "adapter_config.json").is_file():
        lines.append(f"vLLM (LoRA adapter): vllm serve {base_model} --enable-lora --lora-modules {name}={run.adapter}")
    if (run.export / "hf" / "config.json").is_file():
        lines.append(f"vLLM (merged model): vllm serve {run.export / 'hf'} --served-model-name {name}")
    if gguf:
        lines += ["", "llama.cpp (a stack file for `taustack up --stack FILE`):",
                  "  llamacpp:", f"    model: {run.export / 'model.gguf'}", f"    model_name: {name}",
                  "    replicas: 1", "    port: 8080",
                  "  balancer:", f"    image: {NGINX_LOCAL_IMAGE}", "",
                  f"Ollama: cd {run.export} && ollama create {name} -f Modelfile"]
    return "\n".join(lines)
