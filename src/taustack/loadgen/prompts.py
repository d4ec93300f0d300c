"""What to send: built-in prompts, a JSONL file, or the multi-turn episodes of a tau2 results file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taustack.errors import TaustackError

Message = dict[str, Any]

BUILTIN = [
    "Hello! My order has not arrived yet, can you check it?",
    "I want to change my flight to next Tuesday morning.",
    "Please cancel my reservation and refund the original payment method.",
    "My phone shows no signal since yesterday. What should I try first?",
    "Can you exchange the keyboard I received for the same model in black?",
    "What is your policy for checked bags on basic economy tickets?",
    "Summarize the steps you will take before you update my account.",
    "I was charged twice for the same order. Please look into it.",
]


@dataclass(frozen=True)
class Episode:
    """Requests sent one after another, each waiting for the previous answer; one session id for all."""

    session: str | None
    turns: tuple[tuple[Message, ...], ...]


def builtin_episodes() -> list[Episode]:
    return [Episode(None, (({"role": "user", "content": text},),)) for text in BUILTIN]


def jsonl_episodes(path: Path) -> list[Episode]:
    """One request per line: {"messages": [...]} or {"prompt": "..."}."""
    episodes: list[Episode] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TaustackError(f"{path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise TaustackError(f"{path} line {number}: not JSON") from None
        if isinstance(row, dict) and isinstance(row.get("messages"), list):
            messages = tuple(row["messages"])
        elif isinstance(row, dict) and isinstance(row.get("prompt"), str):
            messages = ({"role": "user", "content": row["prompt"]},)
        else:
            raise TaustackError(f"{path} line {number}: needs \"messages\" (a list) or \"prompt\" (a string)")
        episodes.append(Episode(None, (messages,)))
    if not episodes:
        raise TaustackError(f"{path}: no prompts")
    return episodes


def openai_message(message: Message) -> Message | None:
    """A tau2 message as the agent saw it (OpenAI format); user-side tool traffic is not the agent's."""
    role = message.get("role")
    if role == "tool":
        if message.get("requestor", "assistant") != "assistant":
            return None
        return {"role": "tool", "tool_call_id": message.get("id", ""), "content": str(message.get("content") or "")}
    if role == "assistant":
        calls = [{"id": call.get("id", ""), "type": "function",
                  "function": {"name": call.get("name", ""), "arguments": json.dumps(call.get("arguments") or {})}}
                 for call in message.get("tool_calls") or []]
        out: Message = {"role": "assistant", "content": message.get("content") or ""}
        if calls:
            out["tool_calls"] = calls
        return out
    if role == "user":
        if message.get("tool_calls"):
            return None
        return {"role": "user", "content": str(message.get("content") or "")}
    return None


def tau2_episodes(path: Path) -> list[Episode]:
    """Each simulation replayed turn by turn: a request before every assistant turn, with the policy as system."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TaustackError(f"{path}: not a readable tau2 results file ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("simulations"), list):
        raise TaustackError(f"{path}: not a tau2 results file (no simulations list)")
    policy = str(((data.get("info") or {}).get("environment_info") or {}).get("policy") or "")
    episodes: list[Episode] = []
    for simulation in data["simulations"]:
        history: list[Message] = [{"role": "system", "content": policy}] if policy else []
        turns = []
        for message in simulation.get("messages") or []:
            converted = openai_message(message)
            if converted is None:
                continue
            if converted["role"] == "assistant" and len(history) > (1 if policy else 0):
                turns.append(tuple(history))
            history.append(converted)
        if turns:
            episodes.append(Episode(f"tau2-{simulation.get('id', len(episodes))}", tuple(turns)))
    if not episodes:
        raise TaustackError(f"{path}: no simulation with an agent turn to replay")
    return episodes


def with_system_prompt(episodes: list[Episode], system: str) -> list[Episode]:
    """Every request starts with this system message (replacing the one it had)."""
    head: Message = {"role": "system", "content": system}

    def swap(messages: tuple[Message, ...]) -> tuple[Message, ...]:
        rest = messages[1:] if messages and messages[0].get("role") == "system" else messages
        return (head, *rest)

    return [Episode(episode.session, tuple(swap(turn) for turn in episode.turns)) for episode in episodes]


def load_episodes(source: str, system_file: Path | None = None) -> list[Episode]:
    """`builtin`, a .jsonl file, or `tau2:FILE` (a tau2-bench results file); optionally one system prompt for all."""
    if source == "builtin":
        episodes = builtin_episodes()
    elif source.startswith("tau2:"):
        episodes = tau2_episodes(Path(source[5:]))
    else:
        episodes = jsonl_episodes(Path(source))
    if system_file is None:
        return episodes
    try:
        system = system_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaustackError(f"{system_file}: {exc.strerror}") from None
    return with_system_prompt(episodes, system)
