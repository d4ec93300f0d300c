"""`taustack eval`: run tau2-bench against the stack (eval_run.py), report on tau2 results (pass^k as tau2 computes
it, with intervals) and compare two runs paired by task."""

from __future__ import annotations

import json
from pathlib import Path

import click

from taustack.cli.eval_run import run
from taustack.console import stderr_console, stdout_console

BOOTSTRAP_OPTION = click.option("--bootstrap", "draws", type=click.IntRange(min=2000), default=2000, show_default=True,
                                help="bootstrap resamples of the tasks (at least 2000)")
SEED_OPTION = click.option("--seed", type=int, default=0, show_default=True, help="seed of the bootstrap")
OUT_HELP = "folder for the files (default: the run directory; results files alone: none written)"


@click.group("eval")
def eval_group() -> None:
    """Evaluate agents on tau2-bench: run, report and compare."""


eval_group.add_command(run)


def _notes(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@eval_group.command("report")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="FILES|RUNS...")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None, help=OUT_HELP)
@click.option("--json", "as_json", is_flag=True, help="print report.json to stdout instead of the table")
@click.option("--combine-overlapping", is_flag=True,
              help="pool runs of one configuration that share tasks as more trials of those tasks (only when their "
                   "trial seeds differ)")
@BOOTSTRAP_OPTION
@SEED_OPTION
def report(paths: tuple[Path, ...], out: Path | None, as_json: bool, combine_overlapping: bool, draws: int,
           seed: int) -> None:
    """pass^k per configuration, domain, mode and overall, with 95% intervals, per task, and the leaderboard
    check."""
    from taustack.eval import render
    from taustack.eval.outcomes import load
    from taustack.eval.report import build_report
    from taustack.eval.report_files import destination, report_files, write_all

    loaded = load(list(paths))
    folder = destination(loaded, out)
    result = build_report(loaded, draws, seed, combine_overlapping)
    files = report_files(result) if folder is not None else {}
    _notes(loaded.warnings)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        console = stdout_console()
        console.print(render.report_table(result))
        for cell in result["cells"]:
            if cell["agent"]:
                console.print(f"{cell['system']} {cell['domain']}: {render.agent_line(cell['agent'])}",
                              markup=False, highlight=False)
        for system in result["systems"]:
            if not system["leaderboard"]["eligible"]:
                console.print(f"{system['system']} ({system['mode']}) off the leaderboard: "
                              + "; ".join(system["leaderboard"]["missing"]), markup=False, highlight=False)
    if folder is None:
        click.echo("no files written (give --out DIR)", err=True)
        return
    written = write_all(folder, files)
    click.echo(f"wrote {', '.join(p.name for p in written)} in {folder}", err=True)


@eval_group.command("compare")
@click.argument("a", type=click.Path(path_type=Path), metavar="A")
@click.argument("b", type=click.Path(path_type=Path), metavar="B")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="folder for compare.md and compare_tasks.png (default: B's run directory; files alone: none)")
@click.option("--json", "as_json", is_flag=True, help="print the comparison as one JSON object")
@click.option("--count-infra-as-failure", is_flag=True,
              help="test tau2's pass^1 (infrastructure errors as failures) instead of leaving out the tasks with an "
                   "infrastructure error on either side")
@BOOTSTRAP_OPTION
@SEED_OPTION
def compare(a: Path, b: Path, out: Path | None, as_json: bool, count_infra_as_failure: bool, draws: int,
            seed: int) -> None:
    """Paired comparison of B (the candidate) against A on the tasks both ran and could score."""
    from rich.table import Table

    from taustack.eval import compare as comparing
    from taustack.eval import plots
    from taustack.eval.outcomes import load
    from taustack.eval.report_files import destination, write_all

    side_a, side_b = load([a]), load([b])
    result = comparing.compare(side_a, side_b, draws, seed, count_infra_as_failure)
    folder = destination(side_b, out)
    files: dict[str, str | bytes] = {}
    if folder is not None:
        grid = [(f"{t['domain']} {t['task_id']}", t["a"], t["b"]) for t in result["per_task"]]
        files = {"compare.md": comparing.compare_markdown(result),
                 "compare_tasks.png": plots.outcome_grid(grid, "A", "B")}
    _notes(result["warnings"])
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        table = Table(title=f"B {', '.join(result['b']['systems'])} vs A {', '.join(result['a']['systems'])} "
                            "(paired by task; diff and CI in points)")
        for column in comparing.COMPARE_COLUMNS:
            table.add_column(column, justify="left" if column in ("domain", "mode", "test") else "right",
                             no_wrap=column == "test")
        for row in comparing.compare_rows(result):
            table.add_row(*row)
        console = stdout_console()
        console.print(table)
        console.print(comparing.infra_line(result), highlight=False)
        console.print(comparing.mde_line(result), highlight=False)
        for figure in comparing.figure_rows(result)[-2:]:
            console.print(f"overall pass^1, {figure[2]}: {figure[3]} tasks, A {figure[4]}, B {figure[5]}, "
                          f"diff {figure[6]}", highlight=False)
        for note in result["differences"]:
            console.print(f"differs (shown, not refused): {note}")
        for line in comparing.agent_lines(result)[1:]:
            console.print(line, highlight=False)
        for row in result["rows"]:
            if row["only_a"] or row["only_b"]:
                console.print(f"not paired in {row['domain']}/{row['mode']}: {len(row['only_a'])} only in A, "
                              f"{len(row['only_b'])} only in B")
    if folder is None:
        stderr_console().print("no files written (give --out DIR)")
        return
    written = write_all(folder, files)
    click.echo(f"wrote {', '.join(p.name for p in written)} in {folder}", err=True)
