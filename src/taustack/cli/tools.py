"""Tools beside the stack: the tiny model, the vLLM planner, the load generator, the exporter, the schema."""

from __future__ import annotations

import json
from pathlib import Path

import click

from taustack.errors import TaustackError
from taustack.workspace import find_root


@click.group()
def model() -> None:
    """Make models locally."""


@model.command("tiny")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="replace a model already in OUT")
def model_tiny(out: Path, overwrite: bool) -> None:
    """A small random Llama model in OUT: HF files (OUT/hf) and a GGUF (OUT/tiny.gguf). Nothing is fetched."""
    from taustack.gguf.tiny import make_tiny_model

    if (out / "tiny.gguf").exists() and not overwrite:
        raise TaustackError(f"{out / 'tiny.gguf'} exists: pass --overwrite to replace it")
    template = (find_root() / "training" / "chat_templates" / "chatml-tools.jinja").read_text(encoding="utf-8")
    paths = make_tiny_model(out, template)
    click.echo(f"wrote {paths['hf']}/ (HF: config, safetensors, tokenizer with a tools chat template)", err=True)
    click.echo(f"wrote {paths['gguf']} (random weights: its words are noise)", err=True)


@model.command("init")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dataset", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="a `taustack dataset to-openai` folder: the tokenizer is trained on its train.jsonl as rendered")
@click.option("--template", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("training/chat_templates/chatml-tools-compact.jinja"), show_default=True,
              help="the chat template (stored in the tokenizer)")
@click.option("--vocab-size", type=int, default=512, show_default=True)
@click.option("--hidden-size", type=int, default=256, show_default=True, help="a multiple of 64 (head_dim 64)")
@click.option("--intermediate-size", type=int, default=768, show_default=True)
@click.option("--layers", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--overwrite", is_flag=True, help="replace a model folder already in OUT")
def model_init(out: Path, dataset: Path, template: Path, vocab_size: int, hidden_size: int, intermediate_size: int,
               layers: int, overwrite: bool) -> None:
    """A Llama to train from scratch in OUT: config, tokenizer trained on DATASET's text, chat template, no weights
    (a recipe with `init: config` trains it)."""
    from taustack.training.scratch import Shape, init_model

    if (out / "config.json").exists() and not overwrite:
        raise TaustackError(f"{out / 'config.json'} exists: pass --overwrite to replace it")
    path = template if template.is_absolute() else find_root() / template
    if not path.is_file():
        raise TaustackError(f"--template {template}: not found")
    made = init_model(out, dataset, path.read_text(encoding="utf-8"),
                      Shape(vocab_size, hidden_size, intermediate_size, layers))
    click.echo(f"wrote {out}/ (config, a {made['vocab']}-token tokenizer trained on {made['tokenizer_examples']} "
               f"examples, chat template; no weights)", err=True)



@model.command("demo")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True, help="tasks, data split and weights")
@click.option("--train-tasks", type=click.IntRange(min=10), default=None,
              help="generated train tasks (default: the demo's)")
@click.option("--image", envvar="TAUSTACK_TRAINER_IMAGE", default="taustack/trainer:cpu", show_default=True,
              help="the CPU trainer image (scripts/images.sh with WITH_TRAINER=1 builds it)")
@click.option("--overwrite", is_flag=True, help="replace a demo model already in OUT")
def model_demo(out: Path, seed: int, train_tasks: int | None, image: str, overwrite: bool) -> None:
    """The demo model of tau2's mock domain from nothing, on the CPU: tasks, oracle episodes, dataset, tokenizer,
    full-parameter SFT from a config, export (HF + GGUF) into OUT/model, and OUT/demo.json."""
    import sys
    from dataclasses import replace

    from taustack.console import stderr_console
    from taustack.training.demo_model import DemoPlan, make_demo_model

    if (out / "demo.json").exists() and not overwrite:
        raise TaustackError(f"{out / 'demo.json'} exists: pass --overwrite to make the demo model again")
    plan = DemoPlan(seed=seed)
    if train_tasks is not None:
        plan = replace(plan, train_tasks=train_tasks)
    made = make_demo_model(find_root(), out, plan, image, stderr_console(), ["taustack", *sys.argv[1:]])
    click.echo(f"wrote {out}/model (HF float16 + F16 GGUF) and {out}/demo.json: {made['total_seconds']:.0f}s",
               err=True)


@model.command("score")
@click.argument("gguf", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="the name the stack serves it as (and the eval runs' prefix)")
@click.option("--heldout", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="the held-out task file (`taustack tasks generate`)")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="where the eval runs and scores.json go")
@click.option("--port", type=int, default=28090, show_default=True, help="the stack's balancer port")
@click.option("--greedy-only", is_flag=True, help="no sampled held-out run (temperature 0.7, 4 trials)")
def model_score(gguf: Path, name: str, heldout: Path, out: Path, port: int, greedy_only: bool) -> None:
    """Serve GGUF on a llama.cpp stack and `taustack eval run` it in solo mode on tau2's real mock tasks and on the
    held-out tasks (temperature 0; and 0.7 with 4 trials): OUT/<name>-*/ and OUT/scores.json."""
    from taustack.fileio import write_json
    from taustack.tasks.taskfile import read_task_file
    from taustack.training.demo_eval import score, served

    if not gguf.is_file():
        raise TaustackError(f"{gguf}: not found")
    read_task_file(heldout)  # a bad held-out file is refused before a stack starts
    with served(out / f"serve-{name}", gguf, name, port) as model:
        scored = score(model, out, heldout, sampled=not greedy_only)
    write_json(out / f"scores-{name}.json", scored)
    for cell, values in scored.items():
        solved = sum(1 for rewards in values["outcomes"].values() if rewards and rewards[0] >= 1.0 - 1e-6)
        click.echo(f"{name} {cell}: first trial solved {solved} of {len(values['outcomes'])} tasks", err=True)


@click.command("plan")
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
              help="hosts of --gpus-per-node GPUs: prints the stack file's hosts: and vllm: sections for one model "
                   "across them (vLLM's own multi-node)")
@click.option("--json", "as_json", is_flag=True, help="print the layouts as JSON")
def plan_command(model_ref: str, gpu_count: int, gpu_mem: float, context: int, utilization: float,
                 quantization: str | None, gpus_per_node: int, min_sequences: int, nodes: int,
                 as_json: bool) -> None:
    """The TP/PP/DP layouts of MODEL (a config.json, its folder, or a model in the HF cache) on the GPUs."""
    from taustack.planner.report import print_plan

    print_plan(model_ref, gpu_count, gpu_mem, context, utilization, quantization, gpus_per_node, min_sequences,
               as_json)
    if nodes > 1:
        from taustack.planner.layout import load_shape, multinode_sections

        click.echo("\n# across hosts: the stack file's sections for one model on all of them")
        click.echo("\n".join(multinode_sections(load_shape(model_ref), nodes, gpus_per_node, context)))


@click.command()
@click.argument("url")
@click.option("--api", type=click.Choice(["openai", "ollama"]), default="openai", show_default=True)
@click.option("--model", required=True, help="the model name the endpoint serves")
@click.option("--prompts", multiple=True, default=("builtin",), show_default=True,
              help="builtin, a .jsonl file ({\"messages\"} or {\"prompt\"} per line), or tau2:RESULTS.json "
                   "(episodes replayed turn by turn, each with its own X-Session-ID); repeat it to mix sources "
                   "(one episode of each in turn)")
@click.option("--system", "system_file", type=click.Path(path_type=Path), default=None,
              help="a text file: the system prompt of every request (e.g. a tau2 domain's policy)")
@click.option("--sessions/--no-sessions", default=True, show_default=True,
              help="send each tau2 episode's X-Session-ID (off: the balancer's strategy alone picks replicas)")
@click.option("--think-time", "think_s", type=click.FloatRange(min=0), default=0, show_default=True,
              help="mean seconds between an episode's turns (the user simulator's and tools' share; 0.5x-1.5x)")
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
def bench(url: str, api: str, model: str, prompts: tuple[str, ...], system_file: Path | None, sessions: bool,
          think_s: float, concurrency: int, rate: float | None,
          request_count: int | None, duration: float | None, stream: bool, max_tokens: int, timeout_s: float,
          key: str | None, compare_url: str | None, max_error_rate: float, as_json: bool) -> None:
    """Load an OpenAI-compatible or Ollama endpoint and report rates, latency percentiles and errors."""
    from taustack.loadgen.command import run_bench
    from taustack.loadgen.prompts import load_episodes
    from taustack.loadgen.runner import LoadPlan

    plan = LoadPlan(api=api, url=url.rstrip("/"), model=model, episodes=load_episodes(prompts, system_file),  # type: ignore[arg-type]
                    sessions=sessions, think_s=think_s, stream=stream, max_tokens=max_tokens,
                    concurrency=concurrency, rate=rate, requests=request_count, duration_s=duration,
                    timeout_s=timeout_s,
                    headers={"Authorization": f"Bearer {key}"} if key else {})
    run_bench(plan, compare_url.rstrip("/") if compare_url else None, as_json, max_error_rate)


@click.command()
@click.option("--targets", type=click.Path(path_type=Path), required=True, help="targets.json from `render`")
@click.option("--logs", type=click.Path(path_type=Path), required=True, help="folder of the balancers' access logs")
@click.option("--port", type=click.IntRange(1, 65535), default=9400, show_default=True)
@click.option("--interval", "interval_s", type=click.FloatRange(min=0.5), default=5, show_default=True)
def exporter(targets: Path, logs: Path, port: int, interval_s: float) -> None:
    """Serve Prometheus metrics of every replica and balancer (runs in the monitoring profile)."""
    from taustack.exporter.server import serve

    serve(targets, logs, port, interval_s)


@click.command()
def schema() -> None:
    """Print the stack file's JSON schema."""
    from taustack.stackfile.stack import StackSpec

    click.echo(json.dumps(StackSpec.model_json_schema(), indent=2))


