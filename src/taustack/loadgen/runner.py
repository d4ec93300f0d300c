"""Drive the load: N concurrent workers, or episodes started at a fixed rate; by request count or duration."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import httpx

from taustack.loadgen.client import Api, Sample, send
from taustack.loadgen.prompts import Episode
from taustack.runtime.sessions import SessionCloser


@dataclass(frozen=True)
class LoadPlan:
    api: Api
    url: str
    model: str
    episodes: list[Episode]
    stream: bool = True
    max_tokens: int = 64
    concurrency: int = 8
    rate: float | None = None
    requests: int | None = None
    duration_s: float | None = None
    timeout_s: float = 120.0
    headers: dict[str, str] = field(default_factory=dict)
    sessions: bool = True  # send each episode's X-Session-ID (off: the balancer's plain strategy decides)
    think_s: float = 0.0  # mean pause before each later turn of an episode (a user simulator's or a tool's time)


class Budget:
    """Requests left and the deadline, shared by every worker."""

    def __init__(self, requests: int | None, duration_s: float | None) -> None:
        self.left = requests
        self.deadline = time.monotonic() + duration_s if duration_s else None

    def open(self) -> bool:
        """Whether more requests may start (without taking one)."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        return self.left is None or self.left > 0

    def take(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        if self.left is not None:
            if self.left <= 0:
                return False
            self.left -= 1
        return True


class EpisodeFeed:
    """Episodes in turn, round after round; each replay gets its own session id (episode id + round)."""

    def __init__(self, episodes: list[Episode]) -> None:
        self.episodes = episodes
        self.handed = 0

    def next(self) -> tuple[Episode, str | None]:
        episode = self.episodes[self.handed % len(self.episodes)]
        round_no = self.handed // len(self.episodes)
        self.handed += 1
        return episode, f"{episode.session}-r{round_no}" if episode.session else None


def think_pause(mean_s: float, session: str, turn: int) -> float:
    """Between 0.5x and 1.5x the mean, the same for the same turn of the same episode in every run."""
    return mean_s * (0.5 + random.Random(f"{session}:{turn}").random())


def session_closer(plan: LoadPlan) -> SessionCloser:
    """Ends each replayed episode's session at the balancer, as `taustack eval run` does after a simulation."""
    token = plan.headers.get("Authorization", "").removeprefix("Bearer ") or None
    return SessionCloser(plan.url, token, enabled=plan.sessions)


async def replay(client: httpx.AsyncClient, plan: LoadPlan, episode: Episode, session: str | None, budget: Budget,
                 samples: list[Sample], on_sample: Callable[[Sample], None], closer: SessionCloser) -> None:
    """The episode's turns one after another (each waits for the previous answer), while the budget lasts; then
    its session is ended."""
    for turn, messages in enumerate(episode.turns):
        if turn and plan.think_s:
            await asyncio.sleep(think_pause(plan.think_s, session or "", turn))
        if not budget.take():
            break
        sample = await send(client, plan.api, plan.url, plan.model, messages, plan.stream, plan.max_tokens,
                            session if plan.sessions else None, plan.headers)
        sample = replace(sample, turn=turn, episode=session or "")
        samples.append(sample)
        on_sample(sample)
    if session and plan.sessions:
        await asyncio.to_thread(closer.finish, session)


async def run_load(plan: LoadPlan, on_sample: Callable[[Sample], None] = lambda sample: None) -> list[Sample]:
    """Every request of the run, in completion order; stops at the count or the deadline, never hangs."""
    samples: list[Sample] = []
    budget = Budget(plan.requests, plan.duration_s)
    feed = EpisodeFeed(plan.episodes)
    closer = session_closer(plan)
    limits = httpx.Limits(max_connections=plan.concurrency, max_keepalive_connections=plan.concurrency)
    timeout = httpx.Timeout(plan.timeout_s, connect=5.0)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as client:
        if plan.rate:
            gate = asyncio.Semaphore(plan.concurrency)

            async def guarded(episode: Episode, session: str | None) -> None:
                async with gate:
                    await replay(client, plan, episode, session, budget, samples, on_sample, closer)

            tasks = []
            started = time.monotonic()
            for launched in itertools.count():
                await asyncio.sleep(max(0.0, started + launched / plan.rate - time.monotonic()))
                if not budget.open():
                    break
                tasks.append(asyncio.create_task(guarded(*feed.next())))
            await asyncio.gather(*tasks)
        else:
            async def worker() -> None:
                while budget.open():
                    await replay(client, plan, *feed.next(), budget, samples, on_sample, closer)

            await asyncio.gather(*(worker() for _ in range(plan.concurrency)))
    return samples
