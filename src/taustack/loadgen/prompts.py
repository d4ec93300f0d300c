"""What to send: built-in prompts, a JSONL file, or the multi-turn episodes of a tau2 results file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taustack.errors import TaustackError
from taustack.fileio import iter_jsonl, read_text

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
    for number, row in iter_jsonl(path, "prompts file", TaustackError):
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


def tau2_episodes(path: Path) -> list[Episode]:
    """Each simulation replayed turn by turn: a request before every assistant turn, with the policy as system.

    The history is what `dataset make` trains on (dataset.convert: the same repairs, the user's own tool traffic
    left out); a results file or a tau2 results folder."""
    from taustack.dataset.convert import convert
    from taustack.dataset.results import Source, is_tau2_folder, iter_simulations, read_run_info

    source = Source(path, "directory" if path.is_dir() and is_tau2_folder(path) else "file", True)
    run = read_run_info(source)
    head: list[Message] = [{"role": "system", "content": run.policy}] if run.policy else []
    episodes: list[Episode] = []
    for simulation in iter_simulations(source):
        history = head + convert(simulation.get("messages") or []).messages
        turns = tuple(tuple(history[:index]) for index, message in enumerate(history)
                      if message["role"] == "assistant" and index > len(head))
        if turns:
            episodes.append(Episode(f"tau2-{simulation.get('id', len(episodes))}", turns))
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


def episodes_of(source: str) -> list[Episode]:
    """`builtin`, a .jsonl file, or `tau2:FILE` (a tau2-bench results file or folder)."""
    if source == "builtin":
        return builtin_episodes()
    if source.startswith("tau2:"):
        return tau2_episodes(Path(source[5:]))
    return jsonl_episodes(Path(source))


def interleaved(groups: list[list[Episode]]) -> list[Episode]:
    """One episode of each source in turn (a mix at any concurrency), the longer sources' rest at the end."""
    mixed: list[Episode] = []
    for index in range(max(len(group) for group in groups)):
        mixed.extend(group[index] for group in groups if index < len(group))
    return mixed


def load_episodes(sources: Sequence[str], system_file: Path | None = None) -> list[Episode]:
    """The episodes of every source, interleaved; optionally one system prompt for all (else each keeps its own:
    a tau2 results file's is its domain's policy)."""
    episodes = interleaved([episodes_of(source) for source in sources])
    if system_file is None:
        return episodes
    return with_system_prompt(episodes, read_text(system_file, "system prompt file", TaustackError))
