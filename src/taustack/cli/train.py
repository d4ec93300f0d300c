"""`taustack train sft | status | export`: thin click commands over taustack.training.jobs."""

from __future__ import annotations

from pathlib import Path

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
    """Train on datasets made by `taustack dataset`: SFT with LoRA in a trainer container."""


@train.command()
@click.option("--recipe", type=click.Path(path_type=Path), default=None,
              help="recipe file (default: training/sft.yaml; with --resume: the run's own)")
@click.option("--gpus", default=None, help="GPU count (GPUs 0..N-1), 'all' (default) or 'cpu'")
@click.option("--gpu-ids", default=None, help="exact GPU indexes or UUIDs, comma-separated")
@click.option("--name", default=None, help="run name (default: the recipe's name, else 'sft')")
@click.option("--resume", default=None, metavar="RUN", help="continue RUN from its last checkpoint")
@click.option("--accelerate-config", type=click.Path(path_type=Path), default=None,
              help="accelerate config for more than one GPU (default: training/accelerate/multi_gpu.yaml)")
@click.option("--shm-size", default="8g", show_default=True, help="the container's /dev/shm (DataLoader workers)")
@click.option("--ipc-host", is_flag=True, help="share the host's IPC namespace instead of --shm-size")
@image_option
@runs_option
def sft(recipe: Path | None, gpus: str | None, gpu_ids: str | None, name: str | None, resume: str | None,
        accelerate_config: Path | None, shm_size: str, ipc_host: bool, image: str, runs_dir: Path | None) -> None:
    """Run TRL SFT with LoRA in the trainer image; logs stream here, the run directory keeps the results."""
    from taustack.training import jobs

    options = jobs.SftOptions(recipe=recipe, gpus=gpus, gpu_ids=gpu_ids, image=image,
                              runs_dir=resolve_runs_dir(runs_dir), name=name, resume=resume,
                              accelerate_config=accelerate_config, shm_size=shm_size, ipc_host=ipc_host)
    jobs.sft(find_root(), options, stderr_console())


@train.command()
@runs_option
def status(runs_dir: Path | None) -> None:
    """A row per run: state (running, finished, failed with exit code), steps, last loss, start, model, dataset."""
    from taustack.training import jobs

    jobs.status(resolve_runs_dir(runs_dir), stdout_console())


@train.command()
@click.argument("run")
@click.option("--merge", is_flag=True, help="merge the LoRA adapter into the base model (HF safetensors)")
@click.option("--gguf", is_flag=True, help="also write model.gguf and an Ollama Modelfile (implies --merge)")
@click.option("--gguf-writer", type=click.Choice(["auto", "taustack", "llama.cpp"]), default="auto",
              show_default=True, help="taustack's own writer (Llama with a byte-level BPE tokenizer) or llama.cpp's "
                                      "convert_hf_to_gguf.py (every architecture it knows; f16)")
@image_option
@runs_option
def export(run: str, merge: bool, gguf: bool, gguf_writer: str, image: str, runs_dir: Path | None) -> None:
    """Export RUN (an id, a unique part of one, or a path): merged model, GGUF; prints how to serve it."""
    from taustack.training import jobs

    jobs.export(find_root(), resolve_runs_dir(runs_dir), run, merge, gguf, image, stdout_console(), gguf_writer)

