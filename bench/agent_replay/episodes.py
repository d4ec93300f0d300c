"""The recorded tau2 episodes the repo carries (tests/data/tau2-results), and the two views tau2 gives of each.

An episode is one recorded simulation: its messages in trajectory order, its reward and how it ended. tau2 26.3 shows
the agent and the user simulator different slices of the same trajectory (tau2/agent/base.py,
tau2/user/base.py): the agent sees every assistant message, the user's text messages and the results of its own
tool calls; the user simulator sees its own messages (text or tool calls), the agent's TEXT messages and the results
of its own tool calls, with roles flipped (the agent's text arrives as role "user", its own messages as "assistant").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "tests" / "data" / "tau2-results"
RESULT_FILES = (
    "gpt-4.1_airline_default_1trial.json",
    "gpt-4.1_retail_default_1trial.json",
    "gpt-4.1_telecom_default_1trial.json",
    "ollama_chat-qwen2.5-7b_airline_default_1trial.json",
)


def normalised(value: Any) -> Any:
    """Integral floats as ints, so that 500 and 500.0 compare equal (booleans stay booleans)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    return value


def canonical(value: Any) -> str:
    """Parsed JSON compared as JSON: one spelling for equal values (key order, spacing, 500 vs 500.0 do not matter)."""
    return json.dumps(normalised(value), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Call:
    """One tool call as the endpoint compares it: a name and canonical JSON arguments (ids are not compared)."""

    name: str
    arguments: str
    call_id: str = field(default="", compare=False)


@dataclass(frozen=True)
class Turn:
    """A message reduced to what a replay compares: role, text, tool calls, and the call a tool result answers."""

    role: str
    content: str | None = None
    calls: tuple[Call, ...] = ()
    tool_call_id: str | None = field(default=None, compare=False)

    def is_call(self) -> bool:
        return bool(self.calls)

    def text(self) -> str:
        return self.content or ""

    def describe(self) -> str:
        if self.calls:
            return f"{self.role} calls " + ", ".join(f"{c.name}({c.arguments})" for c in self.calls)
        return f"{self.role}: {self.text()[:120]!r}"


def recorded_turn(message: dict[str, Any]) -> Turn:
    calls = tuple(Call(call["name"], canonical(call["arguments"]), call.get("id") or "")
                  for call in message.get("tool_calls") or [])
    return Turn(role=message["role"], content=message.get("content"), calls=calls, tool_call_id=message.get("id"))


@dataclass(frozen=True)
class Episode:
    """One recorded simulation of a results file."""

    source: str
    domain: str
    task_id: str
    trial: int
    seed: int
    termination: str
    reward: float | None
    max_steps: int
    max_errors: int
    messages: tuple[dict[str, Any], ...]

    @property
    def key(self) -> str:
        return f"{self.source.split('_default')[0]}/{self.task_id}/{self.trial}"

    def agent_view(self) -> list[Turn]:
        """What tau2's LLMAgent keeps in its state (is_valid_agent_history_message), in trajectory order."""
        kept = []
        for message in self.messages:
            role, requestor = message["role"], message.get("requestor")
            if role == "assistant" or (role == "user" and not message.get("tool_calls")) or (
                    role == "tool" and requestor == "assistant"):
                kept.append(recorded_turn(message))
        return kept

    def user_view(self) -> list[Turn]:
        """What tau2's UserSimulator keeps (is_valid_user_history_message), NOT yet flipped."""
        kept = []
        for message in self.messages:
            role, requestor = message["role"], message.get("requestor")
            if role == "user" or (role == "assistant" and not message.get("tool_calls")) or (
                    role == "tool" and requestor == "user"):
                kept.append(recorded_turn(message))
        return kept

    def agent_turns(self) -> int:
        """Assistant messages the agent's model produced (the greeting is tau2's constant, not the model's)."""
        return sum(1 for turn in self.agent_view()[1:] if turn.role == "assistant")


def load_episodes(files: tuple[str, ...] = RESULT_FILES, folder: Path = RESULTS_DIR) -> list[Episode]:
    episodes = []
    for name in files:
        data = json.loads((folder / name).read_text())
        info = data["info"]
        domain = info["environment_info"]["domain_name"]
        for simulation in data["simulations"]:
            reward_info = simulation.get("reward_info")
            episodes.append(Episode(
                source=name, domain=domain, task_id=str(simulation["task_id"]), trial=int(simulation.get("trial") or 0),
                seed=int(simulation["seed"]), termination=str(simulation["termination_reason"]),
                reward=None if reward_info is None else float(reward_info["reward"]),
                max_steps=int(info.get("max_steps") or 200), max_errors=int(info.get("max_errors") or 10),
                messages=tuple(simulation["messages"])))
    return episodes


def flipped(turn: Turn) -> Turn:
    """A user-view message as the user simulator's request carries it (tau2 UserState.flip_roles)."""
    if turn.role == "user":
        return Turn(role="assistant", content=turn.content, calls=turn.calls)
    if turn.role == "assistant":
        return Turn(role="user", content=turn.content)
    return Turn(role="tool", content=turn.content, tool_call_id=turn.tool_call_id)


LEAK_MARKERS = ("<tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "<function=")


def leaked_calls(text: str, tool_names: set[str]) -> tuple[Call, ...]:
    """Tool calls written into a text: JSON objects {"name": TOOL, "arguments": {...}} anywhere in it."""
    decoder = json.JSONDecoder()
    found = []
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict) and value.get("name") in tool_names and isinstance(value.get("arguments"), dict):
            found.append(Call(str(value["name"]), canonical(value["arguments"])))
            index = text.find("{", end)
        else:
            index = text.find("{", index + 1)
    return tuple(found)


def recorded_leaks(episode: Episode, tool_names: set[str]) -> dict[int, tuple[Call, ...]]:
    """The recorded assistant TEXT messages (agent-view index) that hold a tool call leaked into the text, as the
    model wrote it (qwen2.5-7b's run has them): an agent that repairs them departs from the recording there."""
    leaks = {}
    for index, turn in enumerate(episode.agent_view()):
        if turn.role != "assistant" or turn.calls or not turn.content:
            continue
        calls = leaked_calls(turn.content, tool_names)
        if calls or any(marker in turn.content for marker in LEAK_MARKERS):
            leaks[index] = calls
    return leaks
