"""`taustack bench`: run a load against one endpoint, or two side by side in alternating slices."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from taustack.console import stderr_console, stdout_console
from taustack.errors import TaustackError
from taustack.loadgen.client import Sample
from taustack.loadgen.report import Summary, print_summaries, summarize
from taustack.loadgen.runner import LoadPlan, run_load

SLICES = 4


async def measure(plans: list[LoadPlan], progress: Progress) -> list[Summary]:
    """With two plans, alternate slices of the load (A, B, A, B, ...) so machine noise hits both alike."""
    slices = SLICES if len(plans) == 2 else 1
    samples: list[list[Sample]] = [[] for _ in plans]
    elapsed = [0.0 for _ in plans]
    total = sum(plan.requests or 0 for plan in plans) or None
    task = progress.add_task("bench", total=total)
    for index in range(slices):
        for position, plan in enumerate(plans):
            part = replace(
                plan,
                requests=None if plan.requests is None else plan.requests // slices
                + (plan.requests % slices if index == slices - 1 else 0),
                duration_s=None if plan.duration_s is None else plan.duration_s / slices,
            )
            progress.update(task, description=f"{plan.url} ({index + 1}/{slices})")
            started = time.perf_counter()
            samples[position] += await run_load(part, lambda sample: progress.advance(task))
            elapsed[position] += time.perf_counter() - started
    return [summarize(plan.url, samples[position], elapsed[position]) for position, plan in enumerate(plans)]


def run_bench(plan: LoadPlan, compare_url: str | None, as_json: bool, max_error_rate: float) -> list[Summary]:
    if plan.requests is None and plan.duration_s is None:
        raise TaustackError("give --requests or --duration")
    plans = [plan] + ([replace(plan, url=compare_url)] if compare_url else [])
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as progress:
        summaries = asyncio.run(measure(plans, progress))
    if as_json:
        print(json.dumps([summary.as_dict() for summary in summaries], indent=2))
    else:
        print_summaries(summaries, stdout_console())
    for summary in summaries:
        if summary.error_rate > max_error_rate:
            kinds = ", ".join(f"{kind} {count}" for kind, count in summary.errors_by_kind.items()) or "no answers"
            raise TaustackError(f"{summary.url}: {summary.errors} of {summary.requests} requests failed "
                                f"({kinds}), above --max-error-rate {max_error_rate}")
    return summaries
