"""The settings a run measures, and running their jobs: in this process, or in worker processes forked after tau2
is imported (each with its own endpoint), longest episodes first."""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .episodes import Episode
from .faults import CORPUS, HELDOUT
from .runner import EpisodeResult, Job, reset_process_state, run_job

RATE = 0.10
SEED = 20260301
CONTEXT_EPISODES = 4
CONTEXT_EPISODES_CI = 2
CONTEXT_FRACTION = 0.5  # the limit: the opening request plus this share of the growth to the episode's peak


@dataclass(frozen=True)
class Setting:
    name: str
    rate: float = 0.0
    corpus: Path | None = None


BASELINE = Setting("baseline")
CORPUS_10 = Setting("corpus-10", RATE, CORPUS)
HELDOUT_10 = Setting("heldout-10", RATE, HELDOUT)
RECORDED_LEAKS = Setting("recorded-leaks")
CONTEXT = "context"


def ci_sample(episodes: Sequence[Episode], per_source: int = 4) -> list[Episode]:
    """A fixed, small, mixed sample for --ci: from each results file, PER_SOURCE episodes spread over its tasks in
    file order (every k-th)."""
    chosen: list[Episode] = []
    for source in sorted({episode.source for episode in episodes}):
        members = [episode for episode in episodes if episode.source == source]
        step = max(1, len(members) // per_source)
        chosen += members[::step][:per_source]
    return chosen


def longest_telecom(episodes: Sequence[Episode], count: int) -> list[Episode]:
    """Candidates for the context scenario: the telecom episodes with the most messages."""
    return sorted((e for e in episodes if e.domain == "telecom"), key=lambda e: -len(e.messages))[:count]


def context_limit(first_tokens: int, peak_tokens: int, fraction: float = CONTEXT_FRACTION) -> int:
    """A context limit below the episode's peak request: room for the opening request and FRACTION of the rest."""
    return int(first_tokens + (peak_tokens - first_tokens) * fraction)


def jobs_for(setting: Setting, agents: Sequence[str], episodes: Sequence[Episode], seed: int = SEED,
             agent_config: Callable[[str], str | None] = lambda agent: None) -> list[Job]:
    return [Job(episode=episode, agent=agent, setting=setting.name, rate=setting.rate,
                corpus=str(setting.corpus) if setting.corpus else None, seed=seed, agent_config=agent_config(agent))
            for agent in agents for episode in episodes]


def run_jobs(jobs: Sequence[Job], workers: int, label: str = "") -> list[EpisodeResult]:
    """Every job's result, in job order; WORKERS > 1 forks that many processes (tau2 must be imported already)."""
    order = sorted(range(len(jobs)), key=lambda index: -len(jobs[index].episode.messages))
    results: list[EpisodeResult | None] = [None] * len(jobs)
    started = time.perf_counter()
    done = 0

    def progress() -> None:
        if label and (done % 20 == 0 or done == len(jobs)):
            print(f"  {label}: {done}/{len(jobs)} episodes, {time.perf_counter() - started:.0f}s", file=sys.stderr,
                  flush=True)

    if workers <= 1 or len(jobs) <= 1:
        for index in order:
            results[index] = run_job(jobs[index])
            done += 1
            progress()
    else:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, initializer=reset_process_state) as pool:
            for index, result in pool.imap_unordered(_indexed, [(index, jobs[index]) for index in order]):
                results[index] = result
                done += 1
                progress()
    return [result for result in results if result is not None]


def _indexed(item: tuple[int, Job]) -> tuple[int, EpisodeResult]:
    index, job = item
    return index, run_job(job)
