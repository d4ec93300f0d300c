"""LLMAgentV2's turn engine with a scripted `complete` (no tau2, no HTTP): voting, context budget and overflow
answers, re-prompts, analytics, and the config's one-line errors."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from taustack.agents.completion import Choice, Completion, request_kwargs
from taustack.agents.config import AgentConfig, AgentConfigError, load_config
from taustack.agents.core import InvalidModelMessage, TurnEngine
from taustack.agents.repair import RawToolCall
from tests.helpers import ROOT

TOOLS = [{"type": "function", "function": {"name": "get_user_details", "description": "a user's profile",
                                           "parameters": {"type": "object", "required": ["user_id"],
                                                          "properties": {"user_id": {"type": "string"}}}}}]
POLICY = {"role": "system", "content": "You are an airline agent. " + "Policy text. " * 50}


class ContextOverflow(Exception):
    status_code = 400


def lookup(user: str = "mia_li_3668", raw: str | None = None, logprob: float | None = None) -> Choice:
    arguments = raw if raw is not None else json.dumps({"user_id": user})
    return Choice(content=None, calls=[RawToolCall("c1", "get_user_details", arguments)], mean_logprob=logprob,
                  finish_reason="tool_calls")


def reply(text: str, logprob: float | None = None) -> Choice:
    return Choice(content=text, calls=[], mean_logprob=logprob, finish_reason="stop")


class Scripted:
    """Answers request i with answers[i]: a list of choices (a Completion) or an exception; keeps the requests."""

    def __init__(self, answers: Sequence[list[Choice] | BaseException]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []

    def __call__(self, model: str, messages: Sequence[Mapping[str, Any]], tools: Any, tool_choice: str | None,
                 kwargs: Mapping[str, Any]) -> Completion:
        self.requests.append(([dict(m) for m in messages], dict(kwargs)))
        answer = self.answers[min(len(self.requests) - 1, len(self.answers) - 1)]
        if isinstance(answer, BaseException):
            raise answer
        return Completion(choices=answer, raw={"id": "x"}, usage={"prompt_tokens": 1, "completion_tokens": 1})


def engine(script: Scripted, config: AgentConfig | None = None, **llm_args: Any) -> TurnEngine:
    return TurnEngine(config=config or AgentConfig(), model="openai/m", llm_args=llm_args, tools=TOOLS,
                      session_id="sim-1", complete=script, sleep=lambda s: None)


def voting(samples: int = 3, weighted: bool = False) -> AgentConfig:
    return AgentConfig.model_validate({"voting": {"enabled": True, "samples": samples, "weighted": weighted}})


HISTORY = [POLICY, {"role": "user", "content": "Hi, I am mia_li_3668."}]


def test_majority_vote_over_normalised_actions() -> None:
    script = Scripted([[lookup(), reply("Hello!"), lookup(raw='{"user_id": "mia_li_3668" }')]])
    result = engine(script, voting()).next_message(HISTORY, seed=626729)
    assert [(c.name, c.arguments) for c in result.calls] == [("get_user_details", {"user_id": "mia_li_3668"})]
    assert (result.counters.vote_samples, result.counters.vote_distinct) == (3, 2)
    assert result.counters.vote_agreement == pytest.approx(2 / 3)
    _, kwargs = script.requests[0]
    assert (kwargs["n"], kwargs["temperature"], kwargs["logprobs"]) == (3, 0.7, True)


def test_engine_without_n_gets_parallel_requests_with_their_own_seeds() -> None:
    script = Scripted([[reply("one")], [reply("two")], [reply("three")]])
    result = engine(script, voting()).next_message(HISTORY, seed=626729)
    seeds = [kwargs["seed"] for _, kwargs in script.requests]
    assert len(script.requests) == 3 and len(set(seeds)) == 3
    assert result.counters.vote_samples == 3 and result.content == "one"  # "respond" is one action


def test_weighted_vote_prefers_the_likelier_action() -> None:
    script = Scripted([[lookup(logprob=-2.0), reply("Hello!", logprob=-0.01), lookup(logprob=-2.5)]])
    result = engine(script, voting(weighted=True)).next_message(HISTORY, seed=1)
    assert result.content == "Hello!"


def test_voting_off_sends_the_request_tau2_would() -> None:
    script = Scripted([[lookup()]])
    engine(script, temperature=0.0, num_retries=3).next_message(HISTORY, seed=7)
    _, kwargs = script.requests[0]
    assert kwargs["seed"] == 7 and kwargs["temperature"] == 0.0 and "n" not in kwargs
    assert (kwargs["num_retries"], kwargs["max_retries"]) == (0, 0), "V2 owns its retry budget"
    assert kwargs["extra_headers"] == {"X-Session-ID": "sim-1"}


def long_history(turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [POLICY, {"role": "user", "content": "Hi, I am mia_li_3668."}]
    for i in range(turns):
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"t{i}", "type": "function", "function": {"name": "get_user_details",
                                                             "arguments": json.dumps({"user_id": f"u{i}"})}}]})
        messages.append({"role": "tool", "tool_call_id": f"t{i}", "content": "details " * 200})
        messages.append({"role": "assistant", "content": f"Here is what I found ({i})."})
        messages.append({"role": "user", "content": f"Thanks, next question {i}."})
    return messages


def test_context_budget_from_the_served_context_trims_oldest_turns() -> None:
    config = AgentConfig.model_validate({"context": {"served_context_tokens": 4096}})
    script = Scripted([[reply("ok")]])
    result = engine(script, config, max_tokens=512).next_message(long_history(30), seed=None)
    sent, _ = script.requests[0]
    assert result.counters.trimmed_messages > 0 and result.counters.trimmed_tokens > 0
    assert sent[0]["content"].startswith(POLICY["content"]) and "dropped" in sent[0]["content"]
    assert sent[1] == HISTORY[1] and sent[-1] == long_history(30)[-1]
    calls = {c["id"] for m in sent if m.get("tool_calls") for c in m["tool_calls"]}
    assert all(m["tool_call_id"] in calls for m in sent if m["role"] == "tool"), "no orphaned tool message"


def test_an_overflow_answer_shrinks_the_budget_and_retries() -> None:
    overflow = ContextOverflow("This model's maximum context length is 2048 tokens. However, you requested 9000 "
                               "tokens (8488 in the messages, 512 in the completion). Please reduce the length.")
    script = Scripted([overflow, [reply("ok")]])
    result = engine(script, AgentConfig(), max_tokens=512).next_message(long_history(30), seed=None)
    assert result.content == "ok" and result.counters.context_retries == 1
    first, second = script.requests[0][0], script.requests[1][0]
    assert len(second) < len(first)


def test_context_off_lets_the_overflow_reach_tau2() -> None:
    config = AgentConfig.model_validate({"context": {"enabled": False}})
    script = Scripted([ContextOverflow("maximum context length is 2048 tokens")])
    with pytest.raises(ContextOverflow):
        engine(script, config).next_message(long_history(30), seed=None)


def test_reprompt_quotes_the_error_and_drops_the_failed_attempt_afterwards() -> None:
    script = Scripted([[lookup(raw='{"user": "mia_li_3668"}')], [lookup()]])
    result = engine(script).next_message(HISTORY, seed=None)
    assert result.counters.reprompts == 1 and result.counters.problems
    second, _ = script.requests[1]
    assert second[:2] == HISTORY and second[-2]["role"] == "assistant" and second[-1]["role"] == "user"
    assert "user_id" in second[-1]["content"]


def test_no_repair_is_tau2s_strict_parse() -> None:
    config = AgentConfig.model_validate({"repair": {"enabled": False}})
    with pytest.raises(json.JSONDecodeError):
        engine(Scripted([[lookup(raw="{'user_id': 'x'}")]]), config).next_message(HISTORY, seed=None)


def test_max_reprompts_zero_gives_the_error_to_tau2_at_once() -> None:
    config = AgentConfig.model_validate({"repair": {"max_reprompts": 0}})
    with pytest.raises(InvalidModelMessage, match="after 0 re-prompts"):
        engine(Scripted([[reply("")]]), config).next_message(HISTORY, seed=None)


def test_request_kwargs_never_carry_the_users_retry_or_sample_args() -> None:
    kwargs = request_kwargs({"num_retries": 5, "n": 4, "temperature": 0.0, "api_base": "http://x/v1",
                             "extra_headers": {"X-Trace": "1"}}, 3, "sim", 1, None, False)
    assert kwargs == {"temperature": 0.0, "api_base": "http://x/v1", "num_retries": 0, "max_retries": 0,
                      "extra_headers": {"X-Trace": "1", "X-Session-ID": "sim"}, "seed": 3}


@pytest.mark.parametrize(("text", "named"), [
    ("repair:\n  max_repromts: 3\n", "max_repromts"),
    ("recovery:\n  retries: -1\n", "recovery.retries"),
    ("context:\n  max_context_tokens: 10\n", "context.max_context_tokens"),
    ("votes:\n  enabled: true\n", "votes"),
    ("- repair\n", "mapping"),
])
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(AgentConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert named in message and "\n" not in message and str(path) in message


def test_the_shipped_configs_load_and_v2_yaml_is_the_defaults() -> None:
    assert load_config(ROOT / "agents" / "v2.yaml") == AgentConfig()
    ablations = sorted((ROOT / "agents" / "ablations").glob("*.yaml"))
    assert len(ablations) >= 6
    for path in ablations:
        assert load_config(path) != AgentConfig(), f"{path.name} changes nothing"
