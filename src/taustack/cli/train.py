"""`taustack train sft | grpo | status | export | openai`: thin click commands over taustack.training.jobs and
taustack.training.openai_ft."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from taustack.console import stderr_console, stdout_console
from taustack.training import DEFAULT_IMAGE
from taustack.workspace import find_root

IMAGE_HELP = "trainer image (env TAUSTACK_TRAINER_IMAGE; taustack/trainer:cpu is the CPU build of scripts/images.sh)"


def resolve_runs_dir(value: Path | None) -> Path:
    return (value or find_root() / "runs").resolve()


runs_option = click.option("--runs-dir", type=click.Path(path_type=Path), envvar="TAUSTACK_RUNS_DIR", default=None,
                           help="where run directories live (env TAUSTACK_RUNS_DIR; default: runs/)")
image_option = click.option("--image", envvar="TAUSTACK_TRAINER_IMAGE", default=DEFAULT_IMAGE, show_default=True,
                            help=IMAGE_HELP)


@click.group()
def train() -> None:
    """Train: SFT with LoRA on `taustack dataset` data or GRPO on tau2 episodes in a trainer container, or on
    OpenAI's fine-tuning API."""


def launch_options(default_recipe: str, default_name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options `train sft` and `train grpo` share: recipe, GPUs, run name, resume, container settings."""
    options = (
        click.option("--recipe", type=click.Path(path_type=Path), default=None,
                     help=f"recipe file (default: {default_recipe}; with --resume: the run's own)"),
        click.option("--gpus", default=None, help="GPU count (GPUs 0..N-1), 'all' (default) or 'cpu'"),
        click.option("--gpu-ids", default=None, help="exact GPU indexes or UUIDs, comma-separated"),
        click.option("--name", default=None, help=f"run name (default: the recipe's name, else '{default_name}')"),
        click.option("--resume", default=None, metavar="RUN", help="continue RUN from its last checkpoint"),
        click.option("--accelerate-config", type=click.Path(path_type=Path), default=None,
                     help="accelerate config for more than one GPU (default: training/accelerate/multi_gpu.yaml)"),
        click.option("--shm-size", default="8g", show_default=True,
                     help="the container's /dev/shm (DataLoader workers)"),
        click.option("--ipc-host", is_flag=True, help="share the host's IPC namespace instead of --shm-size"),
        image_option,
        runs_option,
    )

    def decorate(function: Callable[..., None]) -> Callable[..., None]:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


@train.command()
@launch_options("training/sft.yaml", "sft")
def sft(runs_dir: Path | None, **options: Any) -> None:
    """Run TRL SFT with LoRA in the trainer image; logs stream here, the run directory keeps the results."""
    from taustack.training import jobs

    jobs.sft(find_root(), jobs.LaunchOptions(runs_dir=resolve_runs_dir(runs_dir), **options), stderr_console())


@train.command()
@launch_options("training/grpo.yaml", "grpo")
def grpo(runs_dir: Path | None, **options: Any) -> None:
    """Run TRL GRPO with LoRA on tau2 episodes (tau2's evaluator as reward) in the trainer image."""
    from taustack.training import grpo_job, jobs

    grpo_job.grpo(find_root(), jobs.LaunchOptions(runs_dir=resolve_runs_dir(runs_dir), **options), stderr_console())


@train.command()
@runs_option
def status(runs_dir: Path | None) -> None:
    """A row per run (SFT and GRPO): state (running, finished, failed with exit code), steps, last loss, last
    reward, start, model, data (dataset, or tau2 domain/split)."""
    from taustack.training import jobs

    jobs.status(resolve_runs_dir(runs_dir), stdout_console())


@train.command()
@click.argument("run")
@click.option("--merge", is_flag=True, help="merge the LoRA adapter into the base model (HF safetensors)")
@click.option("--gguf", is_flag=True, help="also write model.gguf and an Ollama Modelfile (implies --merge)")
@click.option("--gguf-writer", type=click.Choice(["auto", "taustack", "llama.cpp"]), default="auto",
              show_default=True, help="taustack's own writer (Llama with a byte-level BPE tokenizer) or llama.cpp's "
                                      "convert_hf_to_gguf.py (every architecture it knows; f16)")
@click.option("--half", is_flag=True, help="float16 safetensors and an F16 GGUF (half the size of float32)")
@image_option
@runs_option
def export(run: str, merge: bool, gguf: bool, gguf_writer: str, half: bool, image: str,
           runs_dir: Path | None) -> None:
    """Export RUN (an id, a unique part of one, or a path): merged (or fully trained) model, GGUF; prints how to
    serve it."""
    from taustack.training import jobs

    jobs.export(find_root(), resolve_runs_dir(runs_dir), run, merge, gguf, image, stdout_console(), gguf_writer,
                half)



CREATE_ONLY = ("model", "suffix", "epochs", "batch_size", "learning_rate_multiplier", "seed", "detach")


@train.command("openai")
@click.argument("dataset", required=False)
@click.option("--model", default=None, help="the base model to fine-tune (e.g. gpt-4.1-mini-2025-04-14)")
@click.option("--suffix", default=None, help="up to 64 characters in the fine-tuned model's name")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="n_epochs (default: the API's)")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="batch_size (default: the API's)")
@click.option("--learning-rate-multiplier", type=click.FloatRange(min=0, min_open=True), default=None,
              help="learning_rate_multiplier (default: the API's)")
@click.option("--seed", type=int, default=None, help="the job's seed (default: the API picks one)")
@click.option("--validation/--no-validation", default=True, show_default=True,
              help="upload test.jsonl as the validation file")
@click.option("--detach", is_flag=True, help="create the job and exit (print its id) instead of following it")
@click.option("--follow", "follow_id", metavar="JOB_ID", default=None, help="follow an existing job to its end")
@click.option("--cancel", "cancel_id", metavar="JOB_ID", default=None, help="cancel a job")
@click.option("--base-url", envvar="OPENAI_BASE_URL", default=None,
              help="the API's base URL (env OPENAI_BASE_URL; default: https://api.openai.com/v1)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the job's folder (default: runs/openai-<job id>/)")
@click.option("--poll-interval", type=click.FloatRange(min=0), envvar="TAUSTACK_OPENAI_POLL_S", default=5.0,
              hidden=True, help="seconds between polls (env TAUSTACK_OPENAI_POLL_S)")
@click.pass_context
def openai_ft(ctx: click.Context, dataset: str | None, model: str | None, suffix: str | None, epochs: int | None,
              batch_size: int | None, learning_rate_multiplier: float | None, seed: int | None, validation: bool,
              detach: bool, follow_id: str | None, cancel_id: str | None, base_url: str | None, out: Path | None,
              poll_interval: float) -> None:
    """Fine-tune on OpenAI's API from DATASET (train.jsonl, test.jsonl from `taustack dataset to-openai`).

    Only the hyperparameters given are sent; the rest are the API's defaults. The key comes from OPENAI_API_KEY
    only. Ctrl-C while following detaches (exit 130): the job runs on; `--follow JOB_ID` attaches again."""
    from taustack.training.openai_ft import command
    from taustack.training.openai_ft.submit import Hyperparameters, Submission

    job_id = follow_id or cancel_id
    if follow_id and cancel_id:
        raise click.UsageError("give --follow or --cancel, not both")
    if job_id is not None:
        extra = [name for name in CREATE_ONLY if ctx.params[name] not in (None, False)]
        if dataset is not None or extra:
            given = ["DATASET"] * (dataset is not None) + ["--" + name.replace("_", "-") for name in extra]
            raise click.UsageError(f"{', '.join(given)}: only for a new job, not with --follow/--cancel")
    elif dataset is None:
        raise click.UsageError("Missing argument 'DATASET' (or give --follow JOB_ID or --cancel JOB_ID)")
    elif model is None:
        raise click.UsageError("Missing option '--model'")
    connection = command.Connection(base_url=base_url or None, poll_s=poll_interval, out=out)
    console, stdout = stderr_console(), stdout_console()
    if cancel_id is not None:
        command.cancel(cancel_id, connection, console)
        return
    if follow_id is not None:
        code = command.follow_existing(follow_id, connection, console, stdout)
    else:
        assert dataset is not None and model is not None
        submission = Submission(model=model, suffix=suffix, seed=seed, hyperparameters=Hyperparameters(
            n_epochs=epochs, batch_size=batch_size, learning_rate_multiplier=learning_rate_multiplier))
        code = command.create(dataset, validation, submission, detach, connection, console, stdout)
    if code:
        sys.exit(code)  # not ctx.exit: with standalone_mode=False click would return the code, not exit with it
