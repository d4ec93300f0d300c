"""`taustack eval`: run tau2-bench against the stack, report with intervals, compare two runs paired by task."""

from __future__ import annotations

import click

from taustack.cli.eval_run import run


@click.group("eval")
def eval_group() -> None:
    """tau2-bench: run | report | compare."""


eval_group.add_command(run)
