"""One replayed episode through tau2 26.3's own run_task (orchestrator, environment, user simulator, evaluator with
EvaluationType.ALL), against the replay endpoint, and what came of it.

tau2 is imported once per process (import tau2.run costs 11-15 s); worker processes are forked from a parent that
has imported it. Each process serves its own endpoint; each job registers its own run (its own URL).
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from .endpoint import ReplayEndpoint, ReplayRun
from .episodes import Call, Episode, Turn
from .faults import FaultPlan, load_corpus
from .matching import request_turn, same, sequence_problem

AGENT_MODEL = "openai/replay-agent"
USER_MODEL = "openai/replay-user"
CONFIG_VARIABLE = "TAUSTACK_AGENT_CONFIG"


@dataclass(frozen=True)
class Job:
    """One episode, one agent, one setting."""

    episode: Episode
    agent: str
    setting: str
    rate: float = 0.0
    corpus: str | None = None  # a fault file's path
    seed: int = 0
    context_limit: int | None = None
    agent_config: str | None = None  # TAUSTACK_AGENT_CONFIG for this job (V2)


@dataclass
class TurnOutcome:
    """One assistant message of the replayed trajectory, against the recording."""

    turn: int
    matched: bool
    repairs: dict[str, int]
    calls: tuple[Call, ...] = ()


@dataclass
class EpisodeResult:
    key: str
    domain: str
    agent: str
    setting: str
    recorded_reward: float | None
    reward: float | None = None
    termination: str | None = None
    error: str | None = None
    replay: dict[str, Any] = field(default_factory=dict)
    turns: list[TurnOutcome] = field(default_factory=list)
    sequence_problem: str | None = None
    seconds: float = 0.0

    @property
    def reproduced(self) -> bool:
        return (self.error is None and self.replay.get("failure") is None and self.reward is not None
                and self.recorded_reward is not None and abs(self.reward - self.recorded_reward) < 1e-6)

    @property
    def reason(self) -> str | None:
        """Why the episode did not reproduce its recorded reward (None when it did)."""
        if self.reproduced:
            return None
        if self.replay.get("failure"):
            return f"replay failed: {self.replay['failure_category']}"
        if self.error:
            kind, _, message = self.error.partition(": ")
            return f"run_task raised {kind} ({message.split('.')[0][:70]})"
        return f"reward {self.reward} where the recording has {self.recorded_reward}"

    def fault_kinds(self) -> set[str]:
        return {fault["kind"] for fault in self.replay.get("faults", [])}


class Tau2Side:
    """What a process needs of tau2: tasks, policies and tool names per domain (loaded once), and run_task."""

    def __init__(self) -> None:
        from tau2.registry import registry
        from tau2.run import get_tasks

        self._registry = registry
        self._get_tasks = get_tasks
        self._tasks: dict[str, dict[str, Any]] = {}
        self._domain: dict[str, tuple[str, list[str], list[str]]] = {}

    def task(self, domain: str, task_id: str) -> Any:
        if domain not in self._tasks:
            self._tasks[domain] = {task.id: task for task in self._get_tasks(domain)}
        return self._tasks[domain][task_id]

    def domain(self, domain: str) -> tuple[str, list[str], list[str]]:
        """The policy, the agent's tool names and the user's tool names."""
        if domain not in self._domain:
            environment = self._registry.get_env_constructor(domain)()
            try:
                user_tools = [tool.name for tool in environment.get_user_tools()]
            except Exception:  # tau2 raises a bare ValueError when a domain has no user tools
                user_tools = []
            self._domain[domain] = (environment.get_policy(), [tool.name for tool in environment.get_tools()],
                                    user_tools)
        return self._domain[domain]


_SIDE: Tau2Side | None = None
_ENDPOINT: ReplayEndpoint | None = None
_CORPORA: dict[str, Any] = {}


def tau2_side() -> Tau2Side:
    """This process's tau2 side (a forked worker inherits its parent's, with what it has loaded)."""
    global _SIDE
    if _SIDE is None:
        _SIDE = Tau2Side()
    return _SIDE


def process_state() -> tuple[Tau2Side, ReplayEndpoint]:
    """This process's tau2 side and endpoint (made on first use: after a fork, each worker has its own)."""
    global _ENDPOINT
    if _ENDPOINT is None:
        _ENDPOINT = ReplayEndpoint().start()
    return tau2_side(), _ENDPOINT


def reset_process_state() -> None:
    """Forget the endpoint (a forked worker must not use its parent's, whose thread did not survive the fork)."""
    global _ENDPOINT
    _ENDPOINT = None


def trajectory_view(messages: list[Any]) -> list[tuple[Turn, dict[str, Any]]]:
    """The agent view of a replayed trajectory (tau2 Message objects), each with its raw_data."""
    kept = []
    for message in messages:
        data = message.model_dump(mode="json")
        role, requestor = data["role"], data.get("requestor")
        if role == "assistant" or (role == "user" and not data.get("tool_calls")) or (
                role == "tool" and requestor == "assistant"):
            wire = {"role": role, "content": data.get("content"), "tool_call_id": data.get("id"),
                    "tool_calls": [{"id": call.get("id"), "function": {"name": call["name"],
                                                                        "arguments": call["arguments"]}}
                                   for call in data.get("tool_calls") or []]}
            kept.append((request_turn(wire), data.get("raw_data") or {}))
    return kept


def repairs_of(raw_data: dict[str, Any]) -> dict[str, int]:
    """LLMAgentV2's per-message repair counters (raw_data["taustack"]["repairs"], kind -> count)."""
    counters = (raw_data or {}).get("taustack") or {}
    repairs = counters.get("repairs") if isinstance(counters, dict) else None
    if not isinstance(repairs, dict):
        return {}
    return {str(kind): int(count) for kind, count in repairs.items() if isinstance(count, (int, float)) and count}


def sequence_problem_of(messages: list[Any]) -> str | None:
    """tau2's own check of a message history (Orchestrator.validate_message_history), as text; None when valid.
    (26.3's check never resets its count after a text message, `num_expected_tool_messages == 0`: the caller also
    applies matching.sequence_problem to the agent's view.)"""
    from tau2.orchestrator.orchestrator import Orchestrator

    try:
        Orchestrator.validate_message_history(list(messages))
    except (ValueError, AssertionError) as exc:
        return str(exc)[:200]
    return None


def plan_for(job: Job) -> FaultPlan | None:
    if not job.corpus or job.rate <= 0:
        return None
    if job.corpus not in _CORPORA:
        from pathlib import Path

        _CORPORA[job.corpus] = load_corpus(Path(job.corpus))
    return FaultPlan(rate=job.rate, items=_CORPORA[job.corpus], seed=job.seed)


def run_job(job: Job) -> EpisodeResult:
    """Replay JOB's episode through tau2's run_task; never raises (a raise is the result's error)."""
    from tau2.evaluator.evaluator import EvaluationType
    from tau2.run import run_task

    side, endpoint = process_state()
    episode = job.episode
    policy, agent_tools, user_tools = side.domain(episode.domain)
    task = side.task(episode.domain, episode.task_id)
    run = ReplayRun(episode=episode, policy=policy, scenario=str(task.user_scenario), agent_tools=agent_tools,
                    user_tools=user_tools, plan=plan_for(job), context_limit=job.context_limit)
    url = endpoint.register(run)
    result = EpisodeResult(key=episode.key, domain=episode.domain, agent=job.agent, setting=job.setting,
                           recorded_reward=episode.reward)
    args = {"temperature": 0.0, "api_base": url, "api_key": "replay"}
    previous_config = os.environ.get(CONFIG_VARIABLE)
    if job.agent_config:
        os.environ[CONFIG_VARIABLE] = job.agent_config
    started = time.perf_counter()
    try:
        simulation = run_task(domain=episode.domain, task=task, agent=job.agent, user="user_simulator",
                              llm_agent=AGENT_MODEL, llm_args_agent=dict(args), llm_user=USER_MODEL,
                              llm_args_user=dict(args), max_steps=episode.max_steps, max_errors=episode.max_errors,
                              evaluation_type=EvaluationType.ALL, seed=episode.seed)
        result.reward = None if simulation.reward_info is None else float(simulation.reward_info.reward)
        result.termination = str(getattr(simulation.termination_reason, "value", simulation.termination_reason))
        view = trajectory_view(simulation.messages)
        result.sequence_problem = sequence_problem_of(simulation.messages) or sequence_problem(
            [turn for turn, _ in view])
        recorded = run.agent_view
        for position, (turn, raw_data) in enumerate(view):
            if position == 0 or turn.role != "assistant":
                continue
            result.turns.append(TurnOutcome(turn=position, repairs=repairs_of(raw_data), calls=turn.calls,
                                            matched=position < len(recorded) and same(turn, recorded[position])))
    except Exception as exc:  # the episode's outcome, not the bench's
        result.error = f"{type(exc).__name__}: {str(exc)[:300]}"
        result.replay["traceback"] = traceback.format_exc(limit=4)[-1500:]
    finally:
        result.seconds = time.perf_counter() - started
        if job.agent_config:
            if previous_config is None:
                os.environ.pop(CONFIG_VARIABLE, None)
            else:
                os.environ[CONFIG_VARIABLE] = previous_config
        endpoint.forget(url)
    result.replay.update(run.summary())
    return result
