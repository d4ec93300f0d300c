"""Stack commands: render, up, down, status, logs, pull, key, demo. The controller is imported when one runs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from taustack.console import stderr_console, stdout_console
from taustack.engines import ENGINE_KINDS
from taustack.errors import TaustackError
from taustack.workspace import DEFAULT_PROJECT, Workspace, find_root

if TYPE_CHECKING:
    from taustack.runtime.lifecycle import Stack

F = TypeVar("F", bound=Callable[..., Any])


def stack_options(function: F) -> F:
    """--stack and the overrides Make passes through (STACK, GPUS, GPU_IDS, REPLICAS)."""
    options = [
        click.option("--stack", "stack_path", type=click.Path(path_type=Path), default=None,
                     help="stack file (default: the one rendered last, else serving/stack.yaml)"),
        click.option("--gpus", default=None, help="GPU count (GPUs 0..N-1), 'all', or 'cpu' (0)"),
        click.option("--gpu-ids", default=None, help="exact GPU indexes or UUIDs, comma-separated"),
        click.option("--replicas", default=None, help="number of replicas"),
        click.option("--engine", type=click.Choice([*ENGINE_KINDS, "gateway"]), default=None,
                     help="act on this engine's replicas only (gateway: the gateway and every engine); "
                          "GPU overrides apply to it (default: the only engine section)"),
        click.option("--project-name", envvar="TAUSTACK_PROJECT", default=DEFAULT_PROJECT, show_default=True,
                     help="compose project name (env TAUSTACK_PROJECT)"),
        click.option("--generated-dir", envvar="TAUSTACK_GENERATED_DIR", type=click.Path(path_type=Path),
                     default=None, help="where rendered files go (default: compose/generated)"),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def build_stack(
    stack_path: Path | None, gpus: str | None, gpu_ids: str | None, replicas: str | None, engine: str | None,
    project_name: str, generated_dir: Path | None, write: bool = True,
) -> Stack:
    """Find the project and load the spec with its overrides. `write` (render, up): render and write
    compose/generated/; else the last render, rendered again in memory (nothing is written)."""
    if gpus is not None and gpu_ids is not None:
        raise click.UsageError("give either --gpus or --gpu-ids, not both")
    workspace = Workspace(find_root(), project_name, generated_dir.resolve() if generated_dir else None)
    given = {"gpus": gpus, "gpu_ids": gpu_ids, "replicas": replicas}
    overrides = {key: value for key, value in given.items() if value is not None}
    from taustack.runtime import lifecycle

    if not write:
        return lifecycle.last_render(workspace, stack_path, overrides, engine, stderr_console())
    source = lifecycle.StackSource(stack_path or workspace.default_stack(), overrides, engine)
    return lifecycle.render(source, workspace, stderr_console(), engine)


def stack_argument(write: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn the stack options into a Stack passed as the first argument: rendered and written (`write`), or the
    last render read back (read-only commands)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @stack_options
        @functools.wraps(function)
        def wrapper(stack_path: Path | None, gpus: str | None, gpu_ids: str | None, replicas: str | None,
                    engine: str | None, project_name: str, generated_dir: Path | None, **kwargs: Any) -> Any:
            stack = build_stack(stack_path, gpus, gpu_ids, replicas, engine, project_name, generated_dir, write)
            return function(stack, **kwargs)

        return wrapper

    return decorate


rendering_stack = stack_argument(write=True)  # render, up: write compose/generated/
with_stack = stack_argument(write=False)  # status, logs, down, pull, demo: read the last render, write nothing


@click.command()
@rendering_stack
def render(stack: Stack) -> None:
    """Write compose/generated/ from the stack file (only what changed)."""


@click.command()
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="return only when every replica answers and lists every model")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=900, show_default=True,
              help="seconds to wait for readiness (model pulls included)")
@click.option("--warm", is_flag=True, help="load every listed model on every replica before reporting ready")
@rendering_stack
def up(stack: Stack, wait: bool, timeout_s: float, warm: bool) -> None:
    """Render, start the replicas and balancers, pull the spec's models, wait until ready."""
    from taustack.runtime import lifecycle

    lifecycle.up(stack, stderr_console(), wait, timeout_s, warm)


@click.command()
@click.option("--volumes", is_flag=True, help="also delete the models volume")
@with_stack
def down(stack: Stack, volumes: bool) -> None:
    """Stop and remove every service of the stack (models are kept unless --volumes)."""
    from taustack.runtime import lifecycle

    lifecycle.down(stack, volumes)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="rows as JSON on stdout")
@with_stack
def status(stack: Stack, as_json: bool) -> None:
    """A row per replica and balancer; exit 3 when any is not ready."""
    from taustack.runtime import lifecycle

    lifecycle.status(stack, stderr_console(), as_json)


@click.command()
@click.argument("services", nargs=-1)
@click.option("--follow", "-f", is_flag=True, help="keep printing new lines")
@click.option("--tail", type=click.IntRange(min=0), default=100, show_default=True, help="lines per service")
@with_stack
def logs(stack: Stack, services: tuple[str, ...], follow: bool, tail: int) -> None:
    """Logs of the stack's services (all, or the ones named)."""
    from taustack.runtime import lifecycle

    lifecycle.logs(stack, services, follow, tail)


@click.command()
@click.argument("model")
@with_stack
def pull(stack: Stack, model: str) -> None:
    """Pull MODEL through one Ollama replica and check that every replica lists it."""
    group = stack.rendered.group("ollama")
    if group is None:
        raise TaustackError("the stack file has no ollama section: nothing to pull into")
    from taustack.runtime.pull import pull_model

    pull_model([group], model, stderr_console())


@click.command()
@click.argument("action", required=False, type=click.Choice(["show", "rotate"]), default="show")
def key(action: str) -> None:
    """Print the gateway's master key (made and kept in .env, mode 0600), or rotate it."""
    from taustack.secrets import MASTER_KEY, ensure_secret, rotate_secret

    env_file = Workspace(find_root()).env_file
    if action == "rotate":
        value = rotate_secret(env_file, MASTER_KEY)
        click.echo(f"rotated {MASTER_KEY} in {env_file}; restart the gateway: taustack up", err=True)
    else:
        value = ensure_secret(env_file, MASTER_KEY)
    click.echo(value)


@click.command()
@with_stack
def demo(stack: Stack) -> None:
    """Real mock tickets (tool_choice auto), a chat, a streamed chat and a forced tool call through the llama.cpp
    balancer, with a summary table."""
    from taustack.engines.llamacpp import model_path
    from taustack.runtime.demo import describe_model, run_demo

    group = stack.rendered.group("llamacpp")
    if group is None or not group.models or stack.spec.llamacpp is None:
        raise TaustackError("the stack file has no llamacpp section: nothing to demo")
    about = describe_model(model_path(stack.spec.llamacpp, stack.workspace))
    run_demo(group.balancer_url, group.models[0], stdout_console(), about)


