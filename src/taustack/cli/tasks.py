"""`taustack tasks generate | oracle`: generated tau2 mock tasks, and their oracle episodes (SFT data)."""

from __future__ import annotations

from pathlib import Path

import click

from taustack.errors import TaustackError


@click.group()
def tasks() -> None:
    """Generated tau2 tasks (mock domain): task files, and oracle episodes that check them and are SFT data."""


@tasks.command("generate")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--train", "train_count", type=click.IntRange(min=0), default=2000, show_default=True,
              help="tasks in OUT/train.json")
@click.option("--heldout", "heldout_count", type=click.IntRange(min=0), default=200, show_default=True,
              help="tasks in OUT/heldout.json (wordings, titles and ids never used in training)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="replace task files already in OUT")
def generate(out: Path, train_count: int, heldout_count: int, seed: int, overwrite: bool) -> None:
    """Write OUT/train.json and OUT/heldout.json (tau2 task files) and OUT/tasks.json (counts, seed, checks)."""
    from taustack.tasks.sets import make_sets

    existing = [path for path in (out / "train.json", out / "heldout.json") if path.exists()]
    if existing and not overwrite:
        raise TaustackError(f"{existing[0]} exists: pass --overwrite to replace it")
    summary = make_sets(out, train_count, heldout_count, seed)
    for side, counts in summary["kinds"].items():
        shown = ", ".join(f"{kind} {count}" for kind, count in counts.items())
        click.echo(f"{out / (side + '.json')}: {sum(counts.values())} tasks ({shown})", err=True)


@tasks.command("oracle")
@click.argument("task_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="the tau2 results file to write (one oracle episode per task)")
@click.option("--max-steps", type=click.IntRange(min=2), default=30, show_default=True)
def oracle(task_file: Path, out: Path, max_steps: int) -> None:
    """Play each task's gold actions in solo mode through tau2 (orchestrator, environment, evaluator); every
    episode must score 1.0 (exit 1 otherwise). The results file is SFT data for `taustack dataset make`."""
    from taustack.tasks.oracle import play_oracle, summary
    from taustack.tasks.taskfile import read_task_file

    run = play_oracle(read_task_file(task_file), out, max_steps)
    if run.failed:
        raise TaustackError(summary(run))
    click.echo(summary(run), err=True)
