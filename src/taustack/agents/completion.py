"""V2's own completion call: litellm with no retries of its own, tool-call arguments kept as the engine sent them.

tau2's `generate` parses arguments with json.loads before the agent sees them (a bad call loses the episode) and
retries on its own; V2 owns both. The call goes through `tau2.utils.llm_utils.completion`, looked up at call time,
so whatever the tau2 process installed there (taustack's per-endpoint keys) applies to V2 as to the stock agent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from taustack.agents.repair import RawToolCall
from taustack.agents.voting import mean_logprob

# llm_args tau2 (or taustack's eval run) passes that V2 decides itself
OWNED_ARGS = ("num_retries", "max_retries", "n", "logprobs", "top_logprobs", "seed", "extra_headers")


@dataclass(frozen=True)
class Choice:
    content: str | None
    calls: list[RawToolCall]
    mean_logprob: float | None
    finish_reason: str | None


@dataclass
class Completion:
    choices: list[Choice]
    raw: dict[str, Any] = field(default_factory=dict)
    cost: float = 0.0
    usage: dict[str, int] | None = None


def request_kwargs(llm_args: Mapping[str, Any], seed: int | None, session_id: str, samples: int,
                   temperature: float | None, logprobs: bool) -> dict[str, Any]:
    """litellm kwargs: the user's llm_args, V2's seed, header, sample count; no retries inside litellm or the SDK."""
    kwargs = {k: v for k, v in llm_args.items() if k not in OWNED_ARGS}
    headers = dict(llm_args.get("extra_headers") or {})
    headers["X-Session-ID"] = session_id
    kwargs.update(num_retries=0, max_retries=0, extra_headers=headers)
    if seed is not None:
        kwargs["seed"] = seed
    if samples > 1:
        kwargs["n"] = samples
    if temperature is not None:
        kwargs["temperature"] = temperature
    if logprobs:
        kwargs["logprobs"] = True
    return kwargs


def raw_calls(message: Any) -> list[RawToolCall]:
    calls = []
    for index, call in enumerate(getattr(message, "tool_calls", None) or []):
        function = call.function
        arguments = function.arguments
        if arguments is None:
            arguments = ""
        elif not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        calls.append(RawToolCall(id=str(call.id or f"call_{index}"), name=str(function.name or ""),
                                 arguments=arguments))
    return calls


def choice_of(choice: Any) -> Choice:
    logprobs = getattr(choice, "logprobs", None)
    if logprobs is not None and not isinstance(logprobs, Mapping):
        logprobs = logprobs.model_dump() if hasattr(logprobs, "model_dump") else None
    return Choice(content=choice.message.content, calls=raw_calls(choice.message),
                  mean_logprob=mean_logprob(logprobs), finish_reason=getattr(choice, "finish_reason", None))


def complete(model: str, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None,
             tool_choice: str | None, kwargs: Mapping[str, Any]) -> Completion:
    """One request; the engine's exceptions propagate (recovery decides what is transient)."""
    import tau2.utils.llm_utils as llm_utils

    choice = (tool_choice or "auto") if tools else None  # what tau2's generate sends
    response = llm_utils.completion(model=model, messages=list(messages), tools=list(tools) if tools else None,
                                    tool_choice=choice, **dict(kwargs))
    cost = llm_utils.get_response_cost(response)
    usage = llm_utils.get_response_usage(response)
    return Completion(choices=[choice_of(c) for c in response.choices], raw=response.to_dict(), cost=cost or 0.0,
                      usage=usage)
