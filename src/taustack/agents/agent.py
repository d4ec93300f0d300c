"""LLMAgentV2 as tau2 agents: `llm_agent_v2` (an LLMAgent) and `llm_agent_v2_solo` (an LLMSoloAgent, no-user mode).

tau2 26.3 builds agents by an issubclass chain (LLMAgent subclasses get tools, policy, llm, llm_args; LLMSoloAgent
subclasses also the task), so V2 subclasses both and replaces only `generate_next_message`: the turn itself is
taustack.agents.core, on OpenAI chat dicts. Imports tau2: only code that runs tau2 imports this module.
"""

from __future__ import annotations

import json
from typing import Any

from tau2.agent.llm_agent import LLMAgent, LLMAgentState, LLMSoloAgent
from tau2.data_model.message import AssistantMessage, MultiToolMessage, ToolCall, ToolMessage
from tau2.utils.llm_utils import to_litellm_messages

from taustack.agents.config import AgentConfig, active_config
from taustack.agents.core import TurnEngine, TurnResult
from taustack.agents.session import new_session_id


class V2Turns:
    """What both V2 agents share: the config, the session id and the turn engine built on first use."""

    config: AgentConfig
    session_id: str
    llm: str | None
    llm_args: dict[str, Any]
    tools: list[Any]
    _engine: TurnEngine | None

    def setup_v2(self) -> None:
        self.config = active_config()
        self.session_id = new_session_id()
        self._engine = None

    def engine(self, tool_choice: str | None, solo: bool) -> TurnEngine:
        if self._engine is None:
            if self.llm is None:
                raise ValueError("LLMAgentV2 needs a model (llm)")
            self._engine = TurnEngine(config=self.config, model=self.llm, llm_args=self.llm_args,
                                      tools=[tool.openai_schema for tool in self.tools], session_id=self.session_id,
                                      tool_choice=tool_choice, solo=solo)
        return self._engine

    def v2_turn(self, state: LLMAgentState, tool_choice: str | None, solo: bool) -> AssistantMessage:
        history = to_litellm_messages(state.system_messages + state.messages)
        seed = self.llm_args.get("seed")
        result = self.engine(tool_choice, solo).next_message(history, seed if isinstance(seed, int) else None)
        state.messages.extend(thought_history(result))
        return self.assistant_message(result)

    def assistant_message(self, result: TurnResult) -> AssistantMessage:
        raw: dict[str, Any] = dict(result.completion.raw)
        if self.config.analytics.enabled:
            raw["taustack"] = result.counters.as_raw()
        calls = [ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in result.calls] or None
        return AssistantMessage(role="assistant", content=result.content if calls is None else None,
                                tool_calls=calls, cost=result.completion.cost, usage=result.completion.usage,
                                raw_data=raw)


def thought_history(result: TurnResult) -> list[Any]:
    """The turn's think calls and results as tau2 messages in the agent's own state (never in the trajectory)."""
    messages: list[Any] = []
    for message in result.thoughts:
        if message["role"] == "assistant":
            calls = [ToolCall(id=c["id"], name=c["function"]["name"], arguments=json.loads(c["function"]["arguments"]))
                     for c in message["tool_calls"]]
            messages.append(AssistantMessage(role="assistant", content=None, tool_calls=calls))
        else:
            messages.append(ToolMessage(id=message["tool_call_id"], role="tool", content=message["content"]))
    return messages


def receive(message: Any, state: LLMAgentState) -> None:
    if isinstance(message, MultiToolMessage):
        state.messages.extend(message.tool_messages)
    elif message is not None:
        state.messages.append(message)


class LLMAgentV2(V2Turns, LLMAgent):  # type: ignore[misc]  # tau2 is untyped here
    """tau2's LLMAgent with repair, protocol, context, voting, think, recovery and analytics (agents/v2.yaml)."""

    def __init__(self, tools: list[Any], domain_policy: str, llm: str | None = None,
                 llm_args: dict[str, Any] | None = None) -> None:
        super().__init__(tools=tools, domain_policy=domain_policy, llm=llm, llm_args=llm_args)
        self.setup_v2()

    def generate_next_message(self, message: Any, state: LLMAgentState) -> tuple[AssistantMessage, LLMAgentState]:
        receive(message, state)
        assistant = self.v2_turn(state, None, solo=False)
        state.messages.append(assistant)
        return assistant, state


class LLMAgentV2Solo(V2Turns, LLMSoloAgent):  # type: ignore[misc]
    """tau2's LLMSoloAgent (a ticket, no user; every message a tool call, `done` to stop) with V2's mechanisms."""

    def __init__(self, tools: list[Any], domain_policy: str, task: Any, llm: str | None = None,
                 llm_args: dict[str, Any] | None = None) -> None:
        super().__init__(tools=tools, domain_policy=domain_policy, task=task, llm=llm, llm_args=llm_args)
        self.setup_v2()

    def generate_next_message(self, message: Any, state: LLMAgentState) -> tuple[AssistantMessage, LLMAgentState]:
        if message is not None and getattr(message, "role", None) == "user":
            raise ValueError("LLMAgentV2Solo does not take user messages (no-user mode)")
        receive(message, state)
        assistant = self.v2_turn(state, "required", solo=True)
        if not assistant.is_tool_call():
            raise ValueError("LLMAgentV2Solo only sends tool calls")
        assistant = self._check_if_stop_toolcall(assistant)
        state.messages.append(assistant)
        return assistant, state
