"""The `taustack` command: thin click commands over the controller; errors become exit codes."""

from __future__ import annotations

import functools
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from taustack import __version__, lifecycle
from taustack.cli_dataset import dataset
from taustack.cli_train import train
from taustack.engines import ENGINE_KINDS
from taustack.errors import EXIT_ERROR, TaustackError
from taustack.pull import pull_model
from taustack.secrets_env import MASTER_KEY, ensure_secret, rotate_secret
from taustack.spec import StackSpec, load_stack
from taustack.workspace import DEFAULT_PROJECT, Workspace, find_root

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
                          "GPU overrides apply to it (default: ollama)"),
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
    project_name: str, generated_dir: Path | None,
) -> lifecycle.Stack:
    """Find the project, load the spec with its overrides, render and write compose/generated/."""
    if gpus is not None and gpu_ids is not None:
        raise click.UsageError("give either --gpus or --gpu-ids, not both")
    workspace = Workspace(find_root(), project_name, generated_dir.resolve() if generated_dir else None)
    overrides: dict[str, tuple[Any, str]] = {}
    section = engine if engine in ENGINE_KINDS else "ollama"
    if gpus is not None:
        overrides[f"{section}.gpus"] = (gpus, "--gpus/GPUS")
    if gpu_ids is not None:
        overrides[f"{section}.gpu_ids"] = (gpu_ids, "--gpu-ids/GPU_IDS")
    if replicas is not None:
        value: Any = int(replicas) if replicas.strip().lstrip("-").isdigit() else replicas
        overrides[f"{section}.replicas"] = (value, "--replicas/REPLICAS")
    stack_file = stack_path or workspace.default_stack()
    spec = load_stack(stack_file, overrides)
    return lifecycle.render(spec, workspace, lifecycle.stderr_console(), stack_file, engine)


def with_stack(function: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the stack options into a rendered Stack passed as the first argument."""

    @stack_options
    @functools.wraps(function)
    def wrapper(stack_path: Path | None, gpus: str | None, gpu_ids: str | None, replicas: str | None,
                engine: str | None, project_name: str, generated_dir: Path | None, **kwargs: Any) -> Any:
        stack = build_stack(stack_path, gpus, gpu_ids, replicas, engine, project_name, generated_dir)
        return function(stack, **kwargs)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="taustack")
@click.option("--debug", is_flag=True, help="show tracebacks")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Serve, measure and train open models for tool-calling agents."""
    ctx.obj = {"debug": debug}


@cli.command()
@with_stack
def render(stack: lifecycle.Stack) -> None:
    """Write compose/generated/ from the stack file (only what changed)."""


@cli.command()
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="return only when every replica answers and lists every model")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=900, show_default=True,
              help="seconds to wait for readiness (model pulls included)")
@click.option("--warm", is_flag=True, help="load every listed model on every replica before reporting ready")
@with_stack
def up(stack: lifecycle.Stack, wait: bool, timeout_s: float, warm: bool) -> None:
    """Render, start the replicas and balancers, pull the spec's models, wait until ready."""
    lifecycle.up(stack, lifecycle.stderr_console(), wait, timeout_s, warm)


@cli.command()
@click.option("--volumes", is_flag=True, help="also delete the models volume")
@with_stack
def down(stack: lifecycle.Stack, volumes: bool) -> None:
    """Stop and remove every service of the stack (models are kept unless --volumes)."""
    lifecycle.down(stack, volumes)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="rows as JSON on stdout")
@with_stack
def status(stack: lifecycle.Stack, as_json: bool) -> None:
    """A row per replica and balancer; exit 3 when any is not ready."""
    lifecycle.status(stack, lifecycle.stderr_console(), as_json)


@cli.command()
@click.argument("services", nargs=-1)
@click.option("--follow", "-f", is_flag=True, help="keep printing new lines")
@click.option("--tail", type=click.IntRange(min=0), default=100, show_default=True, help="lines per service")
@with_stack
def logs(stack: lifecycle.Stack, services: tuple[str, ...], follow: bool, tail: int) -> None:
    """Logs of the stack's services (all, or the ones named)."""
    lifecycle.logs(stack, services, follow, tail)


@cli.command()
@click.argument("model")
@with_stack
def pull(stack: lifecycle.Stack, model: str) -> None:
    """Pull MODEL through one Ollama replica and check that every replica lists it."""
    group = stack.rendered.group("ollama")
    if group is None:
        raise TaustackError("the stack file has no ollama section: nothing to pull into")
    pull_model([group], model, lifecycle.stderr_console())


@cli.command()
@click.argument("action", required=False, type=click.Choice(["show", "rotate"]), default="show")
def key(action: str) -> None:
    """Print the gateway's master key (made and kept in .env, mode 0600), or rotate it."""
    env_file = Workspace(find_root()).env_file
    if action == "rotate":
        value = rotate_secret(env_file, MASTER_KEY)
        click.echo(f"rotated {MASTER_KEY} in {env_file}; restart the gateway: taustack up", err=True)
    else:
        value = ensure_secret(env_file, MASTER_KEY)
    click.echo(value)


@cli.group()
def model() -> None:
    """Make models locally."""


@model.command("tiny")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="replace a model already in OUT")
def model_tiny(out: Path, overwrite: bool) -> None:
    """A small random Llama model in OUT: HF files (OUT/hf) and a GGUF (OUT/tiny.gguf). Nothing is fetched."""
    from taustack.tinymodel.build import make_tiny_model

    if (out / "tiny.gguf").exists() and not overwrite:
        raise TaustackError(f"{out / 'tiny.gguf'} exists: pass --overwrite to replace it")
    template = (find_root() / "training" / "chat_templates" / "chatml-tools.jinja").read_text(encoding="utf-8")
    paths = make_tiny_model(out, template)
    click.echo(f"wrote {paths['hf']}/ (HF: config, safetensors, tokenizer with a tools chat template)", err=True)
    click.echo(f"wrote {paths['gguf']} (random weights: its words are noise)", err=True)


@cli.command()
@with_stack
def demo(stack: lifecycle.Stack) -> None:
    """A chat, a streamed chat and a forced tool call through the llama.cpp balancer, with a summary table."""
    from taustack.demo import run_demo

    group = stack.rendered.group("llamacpp")
    if group is None or not group.models:
        raise TaustackError("the stack file has no llamacpp section: nothing to demo")
    run_demo(group.balancer_url, group.models[0], lifecycle.stdout_console())


@cli.command("plan")
@click.argument("model_ref", metavar="MODEL")
@click.option("--gpus", "gpu_count", type=click.IntRange(min=1), required=True, help="GPUs to use")
@click.option("--gpu-mem", type=click.FloatRange(min=1), required=True, help="memory per GPU, in GB (GiB)")
@click.option("--context", type=click.IntRange(min=1), default=32768, show_default=True,
              help="tokens per sequence (vLLM's --max-model-len)")
@click.option("--utilization", type=click.FloatRange(0.1, 1.0), default=0.9, show_default=True,
              help="vLLM's --gpu-memory-utilization")
@click.option("--quantization", type=click.Choice(["fp8", "int8", "awq", "gptq", "int4"]), default=None,
              help="weight quantization (default: the model's dtype)")
@click.option("--gpus-per-node", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--min-seqs", "min_sequences", type=click.IntRange(min=1), default=4, show_default=True,
              help="a layout fits when a replica holds this many sequences of the full context")
@click.option("--nodes", type=click.IntRange(min=1), default=1, show_default=True,
              help="nodes of --gpus-per-node GPUs: prints what each node runs (vLLM over Ray)")
@click.option("--json", "as_json", is_flag=True, help="print the layouts as JSON")
def plan_command(model_ref: str, gpu_count: int, gpu_mem: float, context: int, utilization: float,
                 quantization: str | None, gpus_per_node: int, min_sequences: int, nodes: int,
                 as_json: bool) -> None:
    """The TP/PP/DP layouts of MODEL (a config.json, its folder, or a model in the HF cache) on the GPUs."""
    from taustack.plan_report import print_plan

    print_plan(model_ref, gpu_count, gpu_mem, context, utilization, quantization, gpus_per_node, min_sequences,
               as_json)
    if nodes > 1:
        from taustack.planner import load_shape, multinode_commands

        click.echo("\n# across nodes (vLLM over Ray):")
        click.echo("\n".join(multinode_commands(load_shape(model_ref).name, nodes, gpus_per_node)))


@cli.command()
@click.argument("url")
@click.option("--api", type=click.Choice(["openai", "ollama"]), default="openai", show_default=True)
@click.option("--model", required=True, help="the model name the endpoint serves")
@click.option("--prompts", default="builtin", show_default=True,
              help="builtin, a .jsonl file ({\"messages\"} or {\"prompt\"} per line), or tau2:RESULTS.json "
                   "(episodes replayed turn by turn, each with its own X-Session-ID)")
@click.option("--system", "system_file", type=click.Path(path_type=Path), default=None,
              help="a text file: the system prompt of every request (e.g. a tau2 domain's policy)")
@click.option("--sessions/--no-sessions", default=True, show_default=True,
              help="send each tau2 episode's X-Session-ID (off: the balancer's strategy alone picks replicas)")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--rate", type=click.FloatRange(min=0.01), default=None, help="start episodes at this rate (per s)")
@click.option("--requests", "request_count", type=click.IntRange(min=1), default=None)
@click.option("--duration", type=click.FloatRange(min=0.1), default=None, help="seconds")
@click.option("--stream/--no-stream", default=True, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=120, show_default=True)
@click.option("--key", default=None, help="a bearer token (the gateway's key or TAUSTACK_API_TOKEN)")
@click.option("--compare", "compare_url", default=None, help="a second endpoint, measured side by side")
@click.option("--max-error-rate", type=click.FloatRange(0, 1), default=0.05, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench(url: str, api: str, model: str, prompts: str, system_file: Path | None, sessions: bool,
          concurrency: int, rate: float | None,
          request_count: int | None, duration: float | None, stream: bool, max_tokens: int, timeout_s: float,
          key: str | None, compare_url: str | None, max_error_rate: float, as_json: bool) -> None:
    """Load an OpenAI-compatible or Ollama endpoint and report rates, latency percentiles and errors."""
    from taustack.loadgen.command import run_bench
    from taustack.loadgen.prompts import load_episodes
    from taustack.loadgen.runner import LoadPlan

    plan = LoadPlan(api=api, url=url.rstrip("/"), model=model, episodes=load_episodes(prompts, system_file),  # type: ignore[arg-type]
                    sessions=sessions, stream=stream, max_tokens=max_tokens, concurrency=concurrency, rate=rate,
                    requests=request_count, duration_s=duration, timeout_s=timeout_s,
                    headers={"Authorization": f"Bearer {key}"} if key else {})
    run_bench(plan, compare_url.rstrip("/") if compare_url else None, as_json, max_error_rate)


@cli.command()
@click.option("--targets", type=click.Path(path_type=Path), required=True, help="targets.json from `render`")
@click.option("--logs", type=click.Path(path_type=Path), required=True, help="folder of the balancers' access logs")
@click.option("--port", type=click.IntRange(1, 65535), default=9400, show_default=True)
@click.option("--interval", "interval_s", type=click.FloatRange(min=0.5), default=5, show_default=True)
def exporter(targets: Path, logs: Path, port: int, interval_s: float) -> None:
    """Serve Prometheus metrics of every replica and balancer (runs in the monitoring profile)."""
    from taustack.exporter.server import serve

    serve(targets, logs, port, interval_s)


@cli.command()
def schema() -> None:
    """Print the stack file's JSON schema."""
    click.echo(json.dumps(StackSpec.model_json_schema(), indent=2))


cli.add_command(dataset)
cli.add_command(train)


def main(argv: list[str] | None = None) -> None:
    """Entry point: TaustackError -> `Error: ...` with its exit code; tracebacks only with --debug."""
    args = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=args, prog_name="taustack", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TaustackError as exc:
        if "--debug" in args:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: one line, the traceback only when asked for
        if "--debug" in args:
            traceback.print_exc()
        click.echo(f"Error: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                   err=True)
        sys.exit(EXIT_ERROR)
