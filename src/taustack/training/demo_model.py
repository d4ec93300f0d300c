"""`taustack model demo OUT` (`make demo-model`): the demo model of tau2's mock domain, made from nothing on the CPU.

generate tasks (seeded) -> oracle episodes through tau2 (trainer image) -> `dataset make` / `to-openai` -> `model
init` (tokenizer trained on that data, a Llama config) -> `train sft` (full-parameter, from the config, bf16
autocast, shared prefix; trainer image) -> `train export --gguf --half` -> OUT/model/ (HF + GGUF) and OUT/demo.json
(command, seed, step times, training curve). Each step is the user-facing command's own code.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from taustack.fileio import write_atomic, write_json
from taustack.training import jobs, launch
from taustack.training.recipe import TrainingError
from taustack.training.rundir import RunDir
from taustack.training.scratch import Shape

TEMPLATE = Path("training/chat_templates/chatml-tools-compact.jinja")
ORACLE_IMAGE_OUT = "/out"


@dataclass(frozen=True)
class DemoPlan:
    """What the demo model is made from: the task sets, the model's shape and the SFT settings."""

    seed: int = 0
    train_tasks: int = 16000  # the committed model: 39 min from nothing on 2 shared cores
    heldout_tasks: int = 200
    shape: Shape = field(default_factory=Shape)
    sft: dict[str, Any] = field(default_factory=lambda: {
        "num_train_epochs": 1, "per_device_train_batch_size": 8, "learning_rate": 2.0e-3,
        "lr_scheduler_type": "cosine", "warmup_steps": 100, "weight_decay": 0.01, "max_grad_norm": 1.0,
        "adam_beta2": 0.95, "max_length": 2048, "assistant_only_loss": False, "bf16": True,
        "gradient_checkpointing": False, "pad_to_multiple_of": 32, "train_sampling_strategy": "group_by_length",
        "logging_steps": 25, "save_strategy": "no", "eval_strategy": "no", "dataloader_num_workers": 0})

    def recipe(self, out: Path) -> dict[str, Any]:
        return {"name": "mock-agent", "model": str(out / "init"), "dataset": str(out / "dataset"),
                "method": "full", "init": "config", "shared_prefix": True, "copy_circuit": True,
                "sft": {**self.sft, "seed": self.seed}}


@dataclass
class Timings:
    """Seconds per step, in order."""

    steps: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str, console: Console) -> Iterator[None]:
        console.print(f"[bold]demo model[/]: {name}")
        started = time.monotonic()
        yield
        self.steps[name] = round(time.monotonic() - started, 1)
        console.print(f"[bold]demo model[/]: {name} done in {self.steps[name]:.0f}s")


def run_oracle(root: Path, out: Path, image: str) -> None:
    """`taustack tasks oracle` on the train tasks, inside the trainer image (which carries tau2)."""
    command = ["python", "-m", "taustack", "tasks", "oracle", f"{ORACLE_IMAGE_OUT}/tasks/train.json",
               "--out", f"{ORACLE_IMAGE_OUT}/oracle/train.json"]
    (out / "oracle").mkdir(parents=True, exist_ok=True)
    job = launch.Job(run_id=f"oracle-{int(time.time())}", kind="oracle", image=image, command=command,
                     mounts=[launch.Mount(out.resolve(), ORACLE_IMAGE_OUT, False)], user=launch.container_user(),
                     env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    client = launch.docker_client()
    launch.check_image(client, image)
    outcome = launch.run_job(client, job)
    if outcome.state != "finished":
        raise TrainingError(f"oracle episodes failed: {outcome.describe()} (logs above)")


def make_dataset(out: Path, seed: int) -> dict[str, Any]:
    """`taustack dataset make` (random split by task) and `to-openai` on the oracle episodes."""
    from taustack.dataset.make import MakeOptions
    from taustack.dataset.make import make_dataset as make
    from taustack.dataset.openai import write_openai

    manifest = make(MakeOptions(name="mock-agent", results=(out / "oracle" / "train.json",), out=out / "dataset",
                                split="random", test_fraction=0.01, seed=seed, overwrite=True),
                    show_progress=False)
    write_openai(out / "dataset", overwrite=True)
    return manifest


def curve(run: Path) -> list[dict[str, Any]]:
    """The training curve: step, time and loss of each logged step (metrics.jsonl)."""
    rows = RunDir(run).metrics()
    start = rows[0]["time"] if rows else 0.0
    return [{"step": row["step"], "seconds": round(row["time"] - start, 1), "loss": row["loss"],
             "token_accuracy": row.get("mean_token_accuracy")} for row in rows if "loss" in row]


def parameter_count(hf: Path) -> int:
    """The parameters of an exported model (its safetensors)."""
    from safetensors.numpy import load_file

    return sum(int(array.size) for shard in hf.glob("*.safetensors") for array in load_file(str(shard)).values())


def make_demo_model(root: Path, out: Path, plan: DemoPlan, image: str, console: Console,
                    command: list[str]) -> dict[str, Any]:
    """Every step from nothing to OUT/model/ (hf/, model.gguf) and OUT/demo.json; returns demo.json's content."""
    from taustack.tasks.sets import make_sets
    from taustack.training.scratch import init_model

    out = out.resolve()
    timings = Timings()
    with timings.step(f"generate {plan.train_tasks} train and {plan.heldout_tasks} held-out tasks", console):
        make_sets(out / "tasks", plan.train_tasks, plan.heldout_tasks, plan.seed)
    with timings.step("oracle episodes through tau2 (trainer image)", console):
        run_oracle(root, out, image)
    with timings.step("dataset make / to-openai", console):
        dataset = make_dataset(out, plan.seed)
    with timings.step("model init: tokenizer and config", console):
        init_model(out / "init", out / "dataset", (root / TEMPLATE).read_text(encoding="utf-8"), plan.shape)
    recipe_file = out / "recipe.yaml"
    write_atomic(recipe_file, yaml.safe_dump(plan.recipe(out), sort_keys=False))
    options = jobs.LaunchOptions(recipe=recipe_file, gpus="cpu", gpu_ids=None, image=image, runs_dir=out / "runs")
    with timings.step("train sft (full-parameter, from the config; trainer image)", console):
        run = jobs.sft(root, options, console)
    with timings.step("export (HF float16 + F16 GGUF)", console):
        jobs.export(root, out / "runs", run.id, True, True, image, console, half=True)
    model = out / "model"
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(run.export / "hf", model / "hf")
    shutil.copyfile(run.export / "model.gguf", model / "model.gguf")
    summary = {"command": " ".join(command), "seed": plan.seed, "plan": asdict(plan), "image": image,
               "seconds": timings.steps, "total_seconds": round(sum(timings.steps.values()), 1),
               "dataset": {"kept": dataset["simulations"]["kept"], "splits": dataset["splits"]},
               "run": run.id, "parameters": parameter_count(model / "hf"), "curve": curve(run.path),
               "sizes_bytes": {p.name: p.stat().st_size for p in sorted(model.rglob("*")) if p.is_file()}}
    write_json(out / "demo.json", summary)
    return summary
