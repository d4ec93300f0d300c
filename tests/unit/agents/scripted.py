"""A scripted LLM double for tau2 in this process: stands in for litellm's `completion` where tau2 calls it.

Both tau2's `generate` (the stock agent, the user simulator) and LLMAgentV2 call `tau2.utils.llm_utils.completion`,
so replacing it scripts both sides of a real tau2 simulation. Each side answers from its own list of steps; a step
is a message dict (content, tool_calls with raw argument strings) or an exception to raise. Every request is kept.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

Step = dict[str, Any] | BaseException


def call(name: str, arguments: str, call_id: str | None = None) -> dict[str, Any]:
    return {"id": call_id or f"call_{name}", "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_message(*calls: dict[str, Any], content: str | None = None) -> dict[str, Any]:
    return {"content": content, "tool_calls": list(calls)}


def text(content: str) -> dict[str, Any]:
    return {"content": content, "tool_calls": None}


class HTTPError(Exception):
    """An endpoint's error answer, with a status code as litellm's exceptions carry it."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class ServiceUnavailableError(HTTPError):
    def __init__(self, message: str = "503 Service Unavailable") -> None:
        super().__init__(503, message)


@dataclass
class Script:
    """Steps per model name; `requests` holds every request's kwargs (model, messages, tools, headers...)."""

    steps: dict[str, list[Step]]
    requests: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, Iterator[int]] = field(default_factory=dict)

    def __call__(self, **kwargs: Any) -> Any:
        import litellm

        self.requests.append(kwargs)
        model = str(kwargs["model"]).split("/", 1)[-1]
        index = next(self.counters.setdefault(model, itertools.count()))
        steps = self.steps[model]
        step = steps[min(index, len(steps) - 1)]
        if isinstance(step, BaseException):
            raise step
        samples = int(kwargs.get("n") or 1)
        message = {"role": "assistant", **step}
        choices = [{"index": i, "message": message, "finish_reason": "stop"} for i in range(samples)]
        return litellm.ModelResponse(id=f"scripted-{index}", model=model, choices=choices,
                                     usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})

    def requests_of(self, model: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if str(r["model"]).split("/", 1)[-1] == model]


@contextmanager
def scripted(steps: Mapping[str, Sequence[Step]]) -> Iterator[Script]:
    import tau2.utils.llm_utils as llm_utils

    script = Script({name: list(items) for name, items in steps.items()})
    original = llm_utils.completion
    llm_utils.completion = script
    try:
        yield script
    finally:
        llm_utils.completion = original
