"""One agent turn of LLMAgentV2, on OpenAI chat dicts (tau2-free): request, repair, protocol, vote, re-prompt.

A turn: fit the history to the token budget, sample (one completion, or n for self-consistency) with transient
errors retried, repair and validate each sample's tool calls, apply the protocol rule, vote, and either return a
valid message or re-prompt with the exact error (at most `repair.max_reprompts` times). Thoughts sent to the `think`
tool are answered inside the turn and never reach the environment. An invalid message never leaves the turn: past
the re-prompt budget the turn raises InvalidModelMessage, which tau2 records as the agent's error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from taustack.agents.analytics import MessageCounters
from taustack.agents.completion import Choice, Completion, complete, request_kwargs
from taustack.agents.config import AgentConfig
from taustack.agents.context import context_budget, is_context_overflow, shrink_budget, trim_to_budget
from taustack.agents.protocol import apply_protocol
from taustack.agents.recovery import call_with_retries
from taustack.agents.repair import RawToolCall, RepairOutcome, ToolCallOut, repair_message, reprompt_text
from taustack.agents.tokens import TokenCounter, counter_for
from taustack.agents.voting import Candidate, action_key, sample_seeds, vote

THINK_TOOL = "think"
THINK_RESULT = "Your thought has been logged."
THINK_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": THINK_TOOL,
        "description": ("Use the tool to think about something. It will not obtain new information or change the "
                        "database, but just append the thought to the log. Use it when complex reasoning or some "
                        "cache memory is needed."),
        "parameters": {"type": "object", "properties": {"thought": {"type": "string",
                                                                     "description": "A thought to think about."}},
                       "required": ["thought"]},
    },
}
MAX_THINK_ROUNDS = 3
MAX_CONTEXT_RETRIES = 3
Complete = Callable[[str, Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]] | None, str | None,
                     Mapping[str, Any]], Completion]


class InvalidModelMessage(Exception):
    """The model's message stayed invalid after every re-prompt; it is not dispatched."""


@dataclass
class TurnResult:
    content: str | None
    calls: list[ToolCallOut]
    counters: MessageCounters
    completion: Completion
    thoughts: list[dict[str, Any]] = field(default_factory=list)  # think calls and their results, for the history


@dataclass
class TurnEngine:
    """What a turn needs: the config, the model and its args, the tools (OpenAI schemas), the session id."""

    config: AgentConfig
    model: str
    llm_args: Mapping[str, Any]
    tools: list[dict[str, Any]]
    session_id: str
    tool_choice: str | None = None
    solo: bool = False
    complete: Complete = complete
    sleep: Callable[[float], None] = time.sleep
    counter: TokenCounter | None = None

    def __post_init__(self) -> None:
        if self.config.think.enabled and all(t["function"]["name"] != THINK_TOOL for t in self.tools):
            self.tools = [*self.tools, THINK_SCHEMA]
        if self.config.context.enabled and self.counter is None:
            self.counter = counter_for(self.config.context)
        max_tokens = self.llm_args.get("max_tokens") or self.llm_args.get("max_completion_tokens")
        self.budget = context_budget(self.config.context, max_tokens) if self.config.context.enabled else None

    def next_message(self, history: Sequence[Mapping[str, Any]], seed: int | None) -> TurnResult:
        counters = MessageCounters()
        base = [dict(m) for m in history]
        thoughts: list[dict[str, Any]] = []
        tail: list[dict[str, Any]] = []
        while True:
            completion, outcome = self.sample_and_decide([*base, *thoughts, *tail], seed, counters)
            if outcome.problem is None:
                thinking, outcome = self.split_thoughts(outcome, counters)
                if thinking and not outcome.calls and outcome.content is None:
                    if len(thoughts) // 2 < MAX_THINK_ROUNDS:
                        thoughts.extend(thought_messages(thinking))
                        tail = []
                        continue
                    outcome = replace(outcome, problem=f"{len(thinking)} think calls in a row and no action: "
                                                       "reply to the user or call a tool now")
                else:
                    counters.repairs.update(outcome.repairs)
                    return TurnResult(outcome.content, outcome.calls, counters, completion, thoughts)
            assert outcome.problem is not None
            counters.problems.append(outcome.problem)
            if counters.reprompts >= self.config.repair.max_reprompts:
                raise InvalidModelMessage(f"the model's message is still invalid after {counters.reprompts} "
                                          f"re-prompts: {outcome.problem}")
            counters.reprompts += 1
            tail = reprompt_messages(completion.choices[0], outcome.problem)

    def split_thoughts(self, outcome: RepairOutcome, counters: MessageCounters
                       ) -> tuple[list[ToolCallOut], RepairOutcome]:
        if not self.config.think.enabled:
            return [], outcome
        thinking = [c for c in outcome.calls if c.name == THINK_TOOL]
        counters.think_calls += len(thinking)
        return thinking, replace(outcome, calls=[c for c in outcome.calls if c.name != THINK_TOOL])

    def sample_and_decide(self, messages: list[dict[str, Any]], seed: int | None, counters: MessageCounters
                          ) -> tuple[Completion, RepairOutcome]:
        completion = self.sample(messages, seed, counters)
        outcomes = [self.check(choice) for choice in completion.choices]
        if len(outcomes) == 1:
            return completion, outcomes[0]
        valid = [i for i, o in enumerate(outcomes) if o.problem is None]
        counters.vote_samples = len(outcomes)
        if not valid:
            counters.vote_agreement, counters.vote_distinct = 0.0, 0
            return completion, outcomes[0]
        candidates = [Candidate(action_key(outcomes[i].content, [(c.name, c.arguments) for c in outcomes[i].calls]),
                                completion.choices[i].mean_logprob) for i in valid]
        result = vote(candidates, self.config.voting.weighted)
        counters.vote_agreement = result.agreement * len(valid) / len(outcomes)
        counters.vote_distinct = result.distinct
        winner = valid[result.winner]
        chosen = Completion(choices=[completion.choices[winner]], raw=completion.raw, cost=completion.cost,
                            usage=completion.usage)
        return chosen, outcomes[winner]

    def check(self, choice: Choice) -> RepairOutcome:
        outcome = repair_message(choice.content, choice.calls, self.tools, self.config.repair)
        if outcome.problem is None and self.solo and not outcome.calls and self.config.protocol.enabled:
            return replace(outcome, problem="in this mode every message is a tool call (call `done` when the "
                                            "ticket is solved); the message was text only")
        return apply_protocol(outcome, self.config.protocol)

    def sample(self, messages: list[dict[str, Any]], seed: int | None, counters: MessageCounters) -> Completion:
        """The completion(s) for this request, trimmed to the budget; an overflow answer shrinks the budget."""
        budget = self.budget
        while True:
            request = self.fit(messages, budget, counters)
            try:
                return self.request(request, seed, counters)
            except Exception as exc:
                if not (self.config.context.enabled and counters.context_retries < MAX_CONTEXT_RETRIES
                        and is_context_overflow(getattr(exc, "status_code", None), str(exc))):
                    raise
                counters.context_retries += 1
                current = budget if budget is not None else self.count(request)
                budget = self.budget = shrink_budget(current, str(exc))

    def fit(self, messages: list[dict[str, Any]], budget: int | None, counters: MessageCounters
            ) -> list[dict[str, Any]]:
        if budget is None or self.counter is None:
            return messages
        trimmed = trim_to_budget(messages, self.tools, budget, self.config.context.keep_opening_messages,
                                 self.counter)
        counters.trimmed_messages, counters.trimmed_tokens = trimmed.dropped_messages, trimmed.dropped_tokens
        counters.context_tokens = trimmed.tokens
        return trimmed.messages

    def count(self, messages: list[dict[str, Any]]) -> int:
        assert self.counter is not None
        return self.counter.count(messages, self.tools)

    def request(self, messages: list[dict[str, Any]], seed: int | None, counters: MessageCounters) -> Completion:
        voting = self.config.voting
        samples = voting.samples if voting.enabled else 1
        temperature = voting.temperature if voting.enabled else None
        logprobs = voting.enabled

        def retried(kwargs: dict[str, Any]) -> Completion:
            def on_retry(exc: BaseException, attempt: int, delay: float) -> None:
                counters.retries += 1

            return call_with_retries(lambda: self.complete(self.model, messages, self.tools, self.tool_choice,
                                                           kwargs),
                                     self.config.recovery, on_retry=on_retry, sleep=self.sleep)

        seeds = sample_seeds(seed, samples) if samples > 1 else [seed]
        first = retried(request_kwargs(self.llm_args, seeds[0], self.session_id, samples, temperature, logprobs))
        if len(first.choices) >= samples:
            return first
        # the engine ignored `n`: the other samples as parallel requests, each with its own seed
        rest = seeds[len(first.choices):samples]
        with ThreadPoolExecutor(max_workers=len(rest)) as pool:
            more = list(pool.map(lambda s: retried(request_kwargs(self.llm_args, s, self.session_id, 1, temperature,
                                                                  logprobs)), rest))
        choices = [*first.choices, *(c for m in more for c in m.choices)]
        return Completion(choices=choices, raw=first.raw, cost=first.cost + sum(m.cost for m in more),
                          usage=sum_usage([first, *more]))


def sum_usage(completions: Sequence[Completion]) -> dict[str, int] | None:
    usages = [c.usage for c in completions if c.usage]
    if not usages:
        return None
    return {key: sum(int(u.get(key) or 0) for u in usages) for key in ("completion_tokens", "prompt_tokens")}


def thought_messages(thinking: Sequence[ToolCallOut]) -> list[dict[str, Any]]:
    """The think calls as an assistant message and their results, kept in the agent's own history."""
    call = {"role": "assistant", "content": None,
            "tool_calls": [{"id": c.id, "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.arguments)}} for c in thinking]}
    return [call, *({"role": "tool", "tool_call_id": c.id, "content": THINK_RESULT} for c in thinking)]


def reprompt_messages(choice: Choice, problem: str) -> list[dict[str, Any]]:
    """The invalid message as text (engines' templates may reject malformed tool calls) and the error, quoted."""
    return [{"role": "assistant", "content": message_text(choice.content, choice.calls)},
            {"role": "user", "content": reprompt_text(problem)}]


def message_text(content: str | None, calls: Sequence[RawToolCall]) -> str:
    parts = [content.strip()] if content and content.strip() else []
    parts.extend(f"{call.name}({call.arguments})" for call in calls)
    return "\n".join(parts) or "(an empty message)"
