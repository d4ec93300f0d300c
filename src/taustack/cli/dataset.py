"""`taustack dataset`: make a dataset from tau2 results, write it as OpenAI fine-tuning JSONL, count its tokens."""

from __future__ import annotations

from pathlib import Path

import click

from taustack.console import stdout_console


@click.group()
def dataset() -> None:
    """Training data from tau2 results."""


@dataset.command("make")
@click.option("--results", "results", type=click.Path(path_type=Path), multiple=True, required=True,
              help="a results file, a folder searched recursively, or tau2's folder layout (repeatable)")
@click.option("--name", required=True, help="the dataset's name (its folder: ./datasets/NAME)")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="the dataset's folder instead")
@click.option("--success-only", is_flag=True, help="keep simulations with reward 1 (same as --min-reward 1)")
@click.option("--min-reward", type=float, default=None, help="keep simulations with at least this reward")
@click.option("--termination", "terminations", multiple=True,
              help="keep only these termination reasons, e.g. user_stop, agent_stop (repeatable)")
@click.option("--domain", "domains", multiple=True, help="keep only these domains (repeatable)")
@click.option("--agent-model", "agent_models", multiple=True,
              help="keep only runs of these agent models, as info.agent_info.llm says (repeatable)")
@click.option("--dedup/--no-dedup", default=True, show_default=True, help="drop identical trajectories")
@click.option("--split", type=click.Choice(["tau2", "random"]), default="tau2", show_default=True,
              help="tau2: tau2's own train/test task splits; random: a seeded split of the tasks")
@click.option("--test-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="share of tasks in test (--split random)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the random split and of sampling")
@click.option("--max-per-task", type=click.IntRange(min=1), default=None, help="at most N examples per task")
@click.option("--sample", type=click.IntRange(min=1), default=None, help="keep N examples, chosen at random")
@click.option("--catalog", type=click.Path(path_type=Path), default=None,
              help="folder of <domain>.json files, read before the shipped tau2 catalog")
@click.option("--overwrite", is_flag=True, help="replace an existing dataset folder")
def make(results: tuple[Path, ...], name: str, out: Path | None, success_only: bool, min_reward: float | None,
         terminations: tuple[str, ...], domains: tuple[str, ...], agent_models: tuple[str, ...], dedup: bool,
         split: str, test_fraction: float, seed: int, max_per_task: int | None, sample: int | None,
         catalog: Path | None, overwrite: bool) -> None:
    """One example per kept simulation: OUT/examples.jsonl and OUT/manifest.json."""
    from taustack.dataset.make import MakeOptions, make_dataset

    if "/" in name or name in ("", ".", ".."):
        raise click.BadParameter("a plain name, not a path (use --out for a folder)", param_hint="--name")
    threshold = min_reward if min_reward is not None else 1.0 if success_only else None
    options = MakeOptions(name=name, results=results, out=out or Path("datasets") / name, min_reward=threshold,
                          terminations=frozenset(terminations), domains=frozenset(domains),
                          agent_models=frozenset(agent_models), dedup=dedup, split=split,
                          test_fraction=test_fraction, seed=seed, max_per_task=max_per_task, sample=sample,
                          catalog=catalog, overwrite=overwrite)
    manifest = make_dataset(options)
    counts = manifest["simulations"]
    dropped = ", ".join(f"{reason} {n}" for reason, n in counts["dropped"].items() if n) or "none"
    splits = manifest["splits"]
    click.echo(f"{counts['seen']} simulations read, {counts['kept']} kept (train {splits['train']['examples']}, "
               f"test {splits['test']['examples']}); dropped: {dropped}", err=True)
    for skipped in manifest["skipped_files"]:
        click.echo(f"skipped {skipped['path']}: {skipped['error']}", err=True)
    click.echo(f"wrote {options.out}/examples.jsonl and manifest.json", err=True)


@dataset.command("to-openai")
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="the dataset's folder (default: "
              "./datasets/NAME)")
@click.option("--overwrite", is_flag=True, help="replace train.jsonl/test.jsonl written before")
def to_openai(name: str, out: Path | None, overwrite: bool) -> None:
    """train.jsonl and test.jsonl in OpenAI's chat fine-tuning format (with tools), plus a provenance file."""
    from taustack.dataset.openai import PROVENANCE, dataset_dir, write_openai

    folder = dataset_dir(name, out)
    counts = write_openai(folder, overwrite)
    click.echo(f"wrote {folder}/train.jsonl ({counts['train']} lines), test.jsonl ({counts['test']} lines) "
               f"and {PROVENANCE}", err=True)


@dataset.command("stats")
@click.argument("name")
@click.option("--tokenizer", required=True, help="a local tokenizer or model folder (e.g. models/tiny/hf)")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="the dataset's folder")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def stats(name: str, tokenizer: str, out: Path | None, as_json: bool) -> None:
    """Tokens per example and the assistant tokens each max_length would cut; writes token_stats.json/.png."""
    import json

    from rich.table import Table

    from taustack.dataset.openai import dataset_dir
    from taustack.dataset.tokens import PLOT, SUMMARY, token_stats

    folder = dataset_dir(name, out)
    summary, _ = token_stats(folder, tokenizer)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"{summary['examples']} examples, {summary['tokens']} tokens "
                        f"({summary['assistant_tokens']} assistant, {summary['system_tokens']} system+tools)")
    for column in ("max_length", "assistant tokens lost", "share lost", "examples cut"):
        table.add_column(column, justify="right")
    for row in summary["candidates"]:
        mark = " *" if row["max_length"] >= summary["recommended_max_length"] and \
            row["assistant_share_lost"] <= summary["max_loss"] else ""
        table.add_row(f"{row['max_length']}{mark}", str(row["assistant_tokens_lost"]),
                      f"{row['assistant_share_lost']:.2%}", str(row["examples_truncated"]))
    console = stdout_console()
    console.print(table)
    per = summary["per_example"]
    console.print(f"per example: total p50 {per['total']['p50']}, p90 {per['total']['p90']}, "
                  f"max {per['total']['p100']}; mean system+tools {per['mean_system']:.0f}, "
                  f"mean assistant {per['mean_assistant']:.0f}")
    console.print(f"recommended max_length: {summary['recommended_max_length']} "
                  f"(the smallest that loses at most {summary['max_loss']:.0%} of assistant tokens)")
    click.echo(f"wrote {folder / SUMMARY} and {folder / PLOT}", err=True)
