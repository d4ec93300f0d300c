"""LLMAgentV2 inside tau2 26.3's real orchestrator, mock environment, user simulator and evaluator, with a scripted
LLM (tests/unit/agents/scripted.py): what sinks the stock agent (bad JSON, a leaked call, a near-miss name, a mixed
message, a transient 503) and what V2 does with it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.unit.agents.scripted import ServiceUnavailableError, Step, call, scripted, text, tool_message

AGENT, USER = "agent-model", "user-model"
TASK = "create_task_1"  # create 'Important Meeting' for user_1; reward from the DB and the action
GOOD_ARGS = '{"user_id": "user_1", "title": "Important Meeting"}'
USER_TURNS: list[Step] = [text("Hi, please create a task called 'Important Meeting' for user_1."),
                          text("Thanks, that is all. ###STOP###")]


@pytest.fixture(scope="module")
def tau2_ready() -> Iterator[None]:
    from taustack.eval import tau2_26_3

    tau2_26_3.quiet_imports()
    tau2_26_3.register_taustack_agents()
    yield


@pytest.fixture
def agent_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text("recovery:\n  backoff_s: 0.0\n  max_backoff_s: 0.0\n")
    monkeypatch.setenv("TAUSTACK_AGENT_CONFIG", str(path))
    return path


def simulate(agent: str, agent_steps: Sequence[Step], user_steps: Sequence[Step] = USER_TURNS,
             task_id: str = TASK) -> tuple[Any, Any]:
    from taustack.eval import tau2_26_3

    user = "dummy_user" if agent.endswith("_solo") else "user_simulator"
    task = next(t for t in tau2_26_3.load_tasks("mock", None, [task_id], None, "default"))
    with scripted({AGENT: list(agent_steps), USER: list(user_steps)}) as script:
        simulation = tau2_26_3.run_simulation("mock", task, agent, user, f"openai/{AGENT}", {"temperature": 0.0},
                                              f"openai/{USER}", {"temperature": 0.0}, max_steps=20, max_errors=5,
                                              seed=626729, trial=0, nl_assertions=False)
    return simulation, script


def generated(simulation: Any) -> list[Any]:
    """The assistant messages the model produced (tau2 opens with a fixed greeting of its own)."""
    return [m for m in simulation.messages if m.role == "assistant" and m.raw_data is not None]


def assistant_counters(simulation: Any) -> list[dict[str, Any]]:
    return [m.raw_data["taustack"] for m in generated(simulation)]


def dispatched_calls(simulation: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(c.name, c.arguments) for m in simulation.messages if m.role == "assistant" for c in m.tool_calls or []]


def test_bad_json_arguments_sink_the_stock_agent_and_v2_repairs_them(tau2_ready: None, agent_config: Path) -> None:
    steps: list[Step] = [tool_message(call("create_task", "{'user_id': 'user_1', 'title': 'Important Meeting'}")),
                         text("The task 'Important Meeting' is created for user_1.")]
    with pytest.raises(json.JSONDecodeError):
        simulate("llm_agent", steps)
    simulation, script = simulate("llm_agent_v2", steps)
    assert simulation.reward_info.reward == 1.0
    assert dispatched_calls(simulation) == [("create_task", {"user_id": "user_1", "title": "Important Meeting"})]
    assert assistant_counters(simulation)[0]["repairs"] == {"json_arguments": 1}
    headers = {r["extra_headers"]["X-Session-ID"] for r in script.requests_of(AGENT)}
    assert headers == {simulation.id}, "every agent request carries the simulation's id"
    assert all(r["num_retries"] == 0 for r in script.requests_of(AGENT))


def test_leaked_hermes_call_is_dispatched_not_said_to_the_user(tau2_ready: None, agent_config: Path) -> None:
    leaked = f'<tool_call>\n{{"name": "create_task", "arguments": {GOOD_ARGS}}}\n</tool_call>'
    steps: list[Step] = [text(leaked), text("Done: 'Important Meeting' is created.")]
    stock, _ = simulate("llm_agent", steps)
    v2, _ = simulate("llm_agent_v2", steps)
    assert stock.reward_info.reward == 0.0, "the stock agent sends the call to the user as text"
    assert v2.reward_info.reward == 1.0
    assert dispatched_calls(v2) == [("create_task", json.loads(GOOD_ARGS))]


def test_near_miss_tool_name_is_reprompted_with_the_exact_error(tau2_ready: None, agent_config: Path) -> None:
    steps: list[Step] = [tool_message(call("create_tasks", GOOD_ARGS)), tool_message(call("create_task", GOOD_ARGS)),
                         text("Created.")]
    simulation, script = simulate("llm_agent_v2", steps)
    assert simulation.reward_info.reward == 1.0
    assert dispatched_calls(simulation) == [("create_task", json.loads(GOOD_ARGS))], "the bad name never ran"
    reprompt = script.requests_of(AGENT)[1]["messages"]
    assert reprompt[-1]["role"] == "user" and "create_tasks" in reprompt[-1]["content"]
    assert assistant_counters(simulation)[0]["reprompts"] == 1


def test_reprompts_are_bounded_and_the_error_goes_to_tau2(tau2_ready: None, agent_config: Path) -> None:
    from taustack.agents.core import InvalidModelMessage

    with pytest.raises(InvalidModelMessage, match="after 2 re-prompts"):
        simulate("llm_agent_v2", [tool_message(call("delete_everything", "{}"))])


def test_mixed_message_keeps_the_call(tau2_ready: None, agent_config: Path) -> None:
    steps: list[Step] = [tool_message(call("create_task", GOOD_ARGS), content="Sure, creating it now."),
                         text("Created.")]
    simulation, _ = simulate("llm_agent_v2", steps)
    first = generated(simulation)[0]
    assert first.content is None and first.tool_calls
    assert simulation.reward_info.reward == 1.0


def test_transient_errors_are_retried_without_a_canned_message(tau2_ready: None, agent_config: Path) -> None:
    steps: list[Step] = [ServiceUnavailableError(), ServiceUnavailableError(), tool_message(call("create_task",
                                                                                               GOOD_ARGS)),
                         text("Created.")]
    simulation, _ = simulate("llm_agent_v2", steps)
    assert simulation.reward_info.reward == 1.0
    assert assistant_counters(simulation)[0]["retries"] == 2
    agent_texts = [m.content for m in generated(simulation) if m.content]
    assert agent_texts == ["Created."]


def test_past_the_retry_budget_the_endpoint_error_reaches_tau2(tau2_ready: None, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("recovery:\n  retries: 1\n  backoff_s: 0.0\n  max_backoff_s: 0.0\n")
    monkeypatch.setenv("TAUSTACK_AGENT_CONFIG", str(path))
    with pytest.raises(ServiceUnavailableError):
        simulate("llm_agent_v2", [ServiceUnavailableError()])


def test_nothing_wrong_means_nothing_changed(tau2_ready: None, agent_config: Path) -> None:
    steps: list[Step] = [tool_message(call("create_task", GOOD_ARGS)), text("Created.")]
    stock, stock_script = simulate("llm_agent", steps)
    v2, v2_script = simulate("llm_agent_v2", steps)
    assert [(m.role, m.content, getattr(m, "tool_calls", None)) for m in stock.messages] == \
        [(m.role, m.content, getattr(m, "tool_calls", None)) for m in v2.messages]
    counters = assistant_counters(v2)
    assert all(not c["repairs"] and not c["reprompts"] and not c["retries"] for c in counters)
    strip = ("extra_headers", "num_retries", "max_retries")
    assert [{k: v for k, v in r.items() if k not in strip} for r in stock_script.requests_of(AGENT)] == \
        [{k: v for k, v in r.items() if k not in strip} for r in v2_script.requests_of(AGENT)]


def test_solo_agent_solves_a_ticket_and_stops(tau2_ready: None, agent_config: Path) -> None:
    steps: list[Step] = [text("I will create the task."), tool_message(call("create_task", GOOD_ARGS)),
                         tool_message(call("done", "{}"))]
    simulation, script = simulate("llm_agent_v2_solo", steps, user_steps=[text("unused")])
    assert simulation.reward_info.reward == 1.0
    assert script.requests_of(AGENT)[0]["tool_choice"] == "required"
    assert assistant_counters(simulation)[0]["reprompts"] == 1, "a text message in solo mode is re-prompted"


def test_think_tool_stays_inside_the_agent(tau2_ready: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("think:\n  enabled: true\n")
    monkeypatch.setenv("TAUSTACK_AGENT_CONFIG", str(path))
    steps: list[Step] = [tool_message(call("think", '{"thought": "user_1 wants one task"}')),
                         tool_message(call("create_task", GOOD_ARGS)), text("Created.")]
    simulation, script = simulate("llm_agent_v2", steps)
    assert simulation.reward_info.reward == 1.0
    assert [name for name, _ in dispatched_calls(simulation)] == ["create_task"]
    assert assistant_counters(simulation)[0]["think_calls"] == 1
    assert any(t["function"]["name"] == "think" for t in script.requests_of(AGENT)[0]["tools"])
    second = script.requests_of(AGENT)[1]["messages"]
    assert second[-1] == {"role": "tool", "tool_call_id": "call_think", "content": "Your thought has been logged."}
