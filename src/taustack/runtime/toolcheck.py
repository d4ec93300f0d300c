"""The tool-calling conformance check per engine group (vLLM and llama.cpp): one forced call through the group's
balancer, as a client sends it, and a status row saying what came back. A group whose policy is `require` and that
fails it keeps `up` from succeeding (exit 3); `warn` only shows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from taustack.engines.base import ReplicaGroup
from taustack.engines.toolcheck import ToolCallProblem, check_forced_call
from taustack.httperrors import describe_http_error

TIMEOUT = httpx.Timeout(120.0, connect=5.0)


@dataclass(frozen=True)
class ToolCheckResult:
    """One group's answer to the forced call: problem is "" when it conformed."""

    engine: str
    policy: str
    model: str
    parser: str
    problem: str

    @property
    def blocks(self) -> bool:
        """A failure that keeps the stack from being ready."""
        return bool(self.problem) and self.policy == "require"

    def line(self) -> str:
        """The failure in one line: which group, model and parser, and what came back."""
        return f"{self.engine} tool calls (model {self.model}, parser {self.parser}): {self.problem}"


def check_group(group: ReplicaGroup, headers: Mapping[str, str]) -> ToolCheckResult:
    """The forced call through the group's balancer; the answer's problem in words, never an exception."""
    model = group.models[0]
    try:
        with httpx.Client(timeout=TIMEOUT, trust_env=False) as client:
            check_forced_call(client, f"{group.balancer_url}/v1", model, headers)
        problem = ""
    except ToolCallProblem as exc:
        problem = str(exc)
    except httpx.HTTPError as exc:
        problem = describe_http_error(exc)
    except ValueError as exc:  # an answer that is not JSON
        problem = f"answered something that is not JSON ({exc})"
    return ToolCheckResult(group.engine, group.tool_check, model, group.tool_parser, problem)


def check_groups(groups: Sequence[ReplicaGroup],
                 headers: Callable[[ReplicaGroup], Mapping[str, str]]) -> list[ToolCheckResult]:
    """Every group whose policy is not off, in parallel (each is one request pair)."""
    checked = [group for group in groups if group.tool_check != "off" and group.models]
    if not checked:
        return []
    with ThreadPoolExecutor(max_workers=len(checked)) as pool:
        return list(pool.map(lambda group: check_group(group, headers(group)), checked))
