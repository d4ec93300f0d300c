"""Context management by token budget: drop the oldest turns of a chat request to fit a budget, and read an
endpoint's "maximum context length" answer. Token counts: taustack.agents.tokens.

Pure: stdlib only. Messages are OpenAI chat dicts ({"role", "content", "tool_calls", "tool_call_id"}); tools are
OpenAI tool schemas.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taustack.agents.config import ContextConfig
from taustack.agents.tokens import TokenCounter, content_text

DEFAULT_RESERVE = 1024  # completion tokens kept free when the request sets no max_tokens
SHRINK_FACTOR = 0.8  # budget kept after an overflow whose message gives no numbers
SHRINK_MARGIN = 0.9  # safety factor on a budget computed from an overflow message's numbers

NOTE_PREFIX = "\n\n[Note: "
NOTE_RE = re.compile(r"\n\n\[Note: (\d+) earlier messages? of this conversation (?:was|were) dropped to fit the "
                     r"context window\.\]$")


def context_budget(config: ContextConfig, max_tokens: int | None) -> int | None:
    """The prompt's token budget: config.max_context_tokens where set, else the served context minus the
    completion's room (the request's max_tokens, else DEFAULT_RESERVE = 1024: a tool call or a reply with room to
    spare; thinking models should set max_tokens), never below 0.

    None where trimming is impossible or off: context management disabled, or neither a budget nor the served
    context known (the agent then sends the full history, as the stock agent does).
    """
    if not config.enabled:
        return None
    if config.max_context_tokens is not None:
        return config.max_context_tokens
    if config.served_context_tokens is None:
        return None
    reserve = max_tokens if max_tokens is not None and max_tokens > 0 else DEFAULT_RESERVE
    return max(config.served_context_tokens - reserve, 0)


@dataclass
class Trimmed:
    messages: list[dict[str, Any]]
    dropped_messages: int
    dropped_tokens: int
    tokens: int  # the count after trimming


def _units(messages: Sequence[Mapping[str, Any]], start: int) -> list[list[int]]:
    """Indices from `start` grouped into units: an assistant message with tool calls together with all its tool
    results (matched by tool_call_id, or following it without an id that matches another call), else one message."""
    units: list[list[int]] = []
    owner: dict[str, int] = {}
    for index in range(start, len(messages)):
        message = messages[index]
        if message.get("role") == "tool":
            call_id = message.get("tool_call_id")
            if isinstance(call_id, str) and call_id in owner:
                units[owner[call_id]].append(index)
                continue
            if units and units[-1][-1] == index - 1 and messages[units[-1][0]].get("tool_calls"):
                units[-1].append(index)
                continue
        units.append([index])
        for call in message.get("tool_calls") or []:
            call_id = call.get("id") if isinstance(call, Mapping) else None
            if isinstance(call_id, str):
                owner[call_id] = len(units) - 1
    return units


def _side(message: Mapping[str, Any]) -> str:
    role = message.get("role")
    return "user" if role == "user" else "system" if role == "system" else "agent"


def _note(count: int) -> str:
    if count == 1:
        return f"{NOTE_PREFIX}1 earlier message of this conversation was dropped to fit the context window.]"
    return f"{NOTE_PREFIX}{count} earlier messages of this conversation were dropped to fit the context window.]"


def with_note(messages: list[dict[str, Any]], dropped: int) -> list[dict[str, Any]]:
    """The messages with the drop note at the end of the system message's content (a note already there is
    replaced by one with both counts added); a system message holding only the note is put first where there is
    none. Never a mid-conversation system message: chat templates such as Qwen's reject those."""
    result = list(messages)
    if not result or result[0].get("role") != "system":
        return [{"role": "system", "content": _note(dropped).strip()}, *result]
    system = dict(result[0])
    content = system.get("content")
    if isinstance(content, list):
        system["content"] = [*content, {"type": "text", "text": _note(dropped)}]
    else:
        text = content_text(content)
        previous = NOTE_RE.search(text)
        if previous:
            text = text[:previous.start()]
            dropped += int(previous.group(1))
        system["content"] = text + _note(dropped) if text else _note(dropped).strip()
    result[0] = system
    return result


def trim_to_budget(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]], budget: int,
                   keep_opening: int, counter: TokenCounter) -> Trimmed:
    """The messages cut to `budget` tokens (counter.count of messages and tools), the input never mutated.

    Fits: the messages unchanged (copies), nothing dropped. Else the oldest units are dropped after the system
    prompt and the first `keep_opening` non-system messages, until it fits. A unit is an assistant message with
    tool calls and all its tool results (never an orphaned result, never a call without its result), or one other
    message; the unit holding the latest message (the one the model must answer) is always kept, and so is any
    unit reaching into the opening. Where dropping one more unit makes the roles alternate (user / agent) across
    the gap, it is dropped too: templates such as Gemma's and Mistral's reject two user messages in a row. The drop
    is said in the history: a note at the end of the system message (with_note). If even the kept minimum does not
    fit it is returned anyway, with its count above the budget: the caller decides.
    """
    original = [copy.deepcopy(dict(message)) for message in messages]
    total = counter.count(original, tools)
    if total <= budget:
        return Trimmed(original, 0, 0, total)
    start = 1 if original and original[0].get("role") == "system" else 0
    units = _units(original, start)
    opening = {i for i in range(start, len(original)) if original[i].get("role") != "system"}
    opening = set(sorted(opening)[:keep_opening])
    pinned = {k for k, unit in enumerate(units) if opening.intersection(unit) or len(original) - 1 in unit}
    droppable = [unit for k, unit in enumerate(units) if k not in pinned]
    if not droppable:
        return Trimmed(original, 0, 0, total)
    empty = counter.count([], [])
    costs = [counter.count([original[i] for i in unit], []) - empty for unit in droppable]

    def kept(drop: int) -> list[dict[str, Any]]:
        gone = {i for unit in droppable[:drop] for i in unit}
        return [message for i, message in enumerate(original) if i not in gone]

    def alternates(drop: int) -> bool:
        gone = {i for unit in droppable[:drop] for i in unit}
        if not gone:
            return True
        first = min(gone)
        before = [i for i in range(first) if i not in gone]
        after = [i for i in range(first, len(original)) if i not in gone]
        if not before or not after or _side(original[before[-1]]) == "system":
            return True
        return _side(original[before[-1]]) != _side(original[after[0]])

    def aligned(drop: int) -> int:
        if not alternates(drop) and drop < len(droppable) and alternates(drop + 1):
            return drop + 1
        return drop

    drop, freed = 0, 0
    while drop < len(droppable) and total - freed > budget:
        freed += costs[drop]
        drop += 1
    drop = aligned(drop)
    while True:
        remaining = kept(drop)
        dropped_messages = len(original) - len(remaining)
        result = with_note(remaining, dropped_messages)
        tokens = counter.count(result, tools)
        if tokens <= budget or drop >= len(droppable):
            break
        drop = aligned(drop + 1)
    return Trimmed(result, dropped_messages, total - counter.count(remaining, tools), tokens)


# what engines answer when a request does not fit: vLLM, llama.cpp's server, OpenAI, litellm, Anthropic
OVERFLOW_PATTERNS = re.compile(
    r"maximum context length|context length exceeded|context_length_exceeded|exceeds the available context size|"
    r"exceed_context_size_error|context size has been exceeded|longer than the maximum model length|"
    r"contextwindowexceedederror|prompt is too long|input is too long|too large for the model's context",
    re.IGNORECASE)
_NUMBER = r"(\d[\d,]*)"
CONTEXT_PATTERNS = [re.compile(p, re.IGNORECASE) for p in (
    rf"maximum context length is {_NUMBER}",  # vLLM, OpenAI
    rf"available context size \({_NUMBER} tokens\)",  # llama.cpp
    rf"[\"']?n_ctx[\"']?\s*:\s*{_NUMBER}",  # llama.cpp's error body
    rf"maximum model length of {_NUMBER}",  # vLLM's "decoder prompt (length N) is longer than ..."
)]
PROMPT_PATTERNS = [re.compile(p, re.IGNORECASE) for p in (
    rf"messages resulted in {_NUMBER} tokens",  # OpenAI, messages and functions together
    rf"your request has {_NUMBER} input tokens",  # vLLM
    rf"request \({_NUMBER} tokens\)",  # llama.cpp
    rf"[\"']?n_prompt_tokens[\"']?\s*:\s*{_NUMBER}",  # llama.cpp's error body
    rf"decoder prompt \(length {_NUMBER}\)",  # vLLM
)]
COMPLETION_PATTERNS = [re.compile(p, re.IGNORECASE) for p in (
    rf"{_NUMBER} in the completion",  # vLLM, OpenAI
    rf"is too large: {_NUMBER}",  # vLLM's "'max_tokens' or 'max_completion_tokens' is too large: N"
)]
MESSAGES_PART = re.compile(rf"{_NUMBER} in the messages", re.IGNORECASE)
FUNCTIONS_PART = re.compile(rf"{_NUMBER} in the functions", re.IGNORECASE)


def is_context_overflow(status: int | None, text: str) -> bool:
    """Whether an endpoint's error says the request does not fit the context: any status from 400 up (llama.cpp
    has answered 500 for it) or none known, and a message such as vLLM's "This model's maximum context length is
    ...", llama.cpp's "the request exceeds the available context size", OpenAI's "context_length_exceeded"."""
    if status is not None and status < 400:
        return False
    return OVERFLOW_PATTERNS.search(text) is not None


def _first_number(patterns: Sequence[re.Pattern[str]], text: str) -> int | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return int(match.group(1).replace(",", ""))
    return None


def _prompt_tokens(text: str) -> int | None:
    prompt = _first_number(PROMPT_PATTERNS, text)
    if prompt is not None:
        return prompt
    messages = MESSAGES_PART.search(text)
    if messages is None:
        return None
    functions = FUNCTIONS_PART.search(text)
    return int(messages.group(1).replace(",", "")) + (int(functions.group(1).replace(",", "")) if functions else 0)


def shrink_budget(budget: int, reported: str | None) -> int:
    """A smaller budget after the endpoint refused a request built to `budget` as too long.

    From the error's numbers where it gives them (vLLM: "maximum context length is 4096 tokens. However, you
    requested 5000 tokens (4000 in the messages, 1000 in the completion)", "... and your request has 3500 input
    tokens"; llama.cpp: "request (4476 tokens) exceeds the available context size (4096 tokens)", n_prompt_tokens
    and n_ctx; OpenAI: "maximum context length is N tokens. However, your messages resulted in M tokens"): the
    budget scaled by what fits over what was sent, (context - completion) / prompt, times SHRINK_MARGIN (0.9) for
    the counter's error. With the context alone: at most 0.9 * (context - completion). Otherwise (llama.cpp's
    older "the request exceeds the available context size" carries no numbers) SHRINK_FACTOR * budget (0.8).
    Always below `budget` (where it is above 0), never below 0.
    """
    text = reported or ""
    context = _first_number(CONTEXT_PATTERNS, text)
    prompt = _prompt_tokens(text)
    completion = _first_number(COMPLETION_PATTERNS, text) or 0
    if context is not None and prompt:
        smaller = budget * (context - completion) / prompt * SHRINK_MARGIN
    elif context is not None:
        smaller = min(budget * SHRINK_FACTOR, (context - completion) * SHRINK_MARGIN)
    else:
        smaller = budget * SHRINK_FACTOR
    return max(0, min(math.floor(smaller), budget - 1))
