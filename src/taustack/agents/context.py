"""Context management by token budget: count a chat request's tokens, drop the oldest turns to fit a budget.

Pure: stdlib only (`tokenizers` is imported inside TokenizerCounter.from_folder). Messages are OpenAI chat dicts
({"role", "content", "tool_calls", "tool_call_id"}); tools are OpenAI tool schemas.

Every count is the prompt as the engine will see it, approximately: each message's text (content, tool-call names
and arguments) plus a fixed per-message overhead for the chat template's tokens (`<|im_start|>assistant\\n` ...
`<|im_end|>\\n` is 5 tokens with Qwen's template, 5 with Llama 3's), a per-call overhead for the tool-call wrapper
(`<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>`), the tools' JSON plus a fixed overhead for the
template's tool preamble (about 100 tokens with Qwen2.5's, more with Llama 3.1's), and the generation prompt.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from taustack.agents.config import AgentConfigError, ContextConfig

MESSAGE_OVERHEAD = 8  # chat-template tokens around one message (5 with Qwen's and Llama 3's templates), rounded up
CALL_OVERHEAD = 16  # the wrapper around one tool call (<tool_call>, {"name": ..., "arguments": ...}, </tool_call>)
TOOLS_OVERHEAD = 200  # the template's tool preamble ("# Tools ... <tools></tools> ..."), once when tools are sent
REPLY_PRIMING = 4  # the generation prompt (<|im_start|>assistant\n)
DEFAULT_RESERVE = 1024  # completion tokens kept free when the request sets no max_tokens
SHRINK_FACTOR = 0.8  # budget kept after an overflow whose message gives no numbers
SHRINK_MARGIN = 0.9  # safety factor on a budget computed from an overflow message's numbers
CACHE_ENTRIES = 8192  # texts whose count is remembered (the history is recounted every turn)

NOTE_PREFIX = "\n\n[Note: "
NOTE_RE = re.compile(r"\n\n\[Note: (\d+) earlier messages? of this conversation (?:was|were) dropped to fit the "
                     r"context window\.\]$")

# the pieces a BPE pre-tokenizer would split a text into: one digit (Qwen, Llama 2 and Mistral split numbers into
# digits), a lowercase or Capitalised ASCII word, a run of ASCII capitals (camelCase is split at its humps), any
# other run of letters, a whitespace run, a punctuation run
PIECES = re.compile(r"(\d)|( ?[A-Z]?[a-z]+)|( ?[A-Z]+(?![a-z]))|( ?[^\W\d_]+)|(\s+)|([^\w\s]+|_+)")


class TokenCounter(Protocol):
    def count(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]) -> int: ...


def content_text(content: Any) -> str:
    """A message's content as text: a string, None (""), or OpenAI content parts (their "text" fields joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(str(part.get("text") or "") for part in content if isinstance(part, Mapping))
    return str(content)


def _arguments_text(arguments: Any) -> str:
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, ensure_ascii=False)


def count_request(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]],
                  text_tokens: Callable[[str], int]) -> int:
    """The request's tokens with `text_tokens` for each text, plus the template overheads (module docstring)."""
    total = REPLY_PRIMING
    for message in messages:
        total += MESSAGE_OVERHEAD + text_tokens(str(message.get("role") or ""))
        total += text_tokens(content_text(message.get("content")))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            total += CALL_OVERHEAD + text_tokens(str(function.get("name") or ""))
            total += text_tokens(_arguments_text(function.get("arguments")))
    if tools:
        total += TOOLS_OVERHEAD + text_tokens(json.dumps(list(tools), ensure_ascii=False))
    return total


class TextCounts:
    """Counts of texts remembered, the oldest forgotten first past CACHE_ENTRIES: every turn recounts the same
    system prompt, tools and history."""

    def __init__(self, count: Callable[[str], int]) -> None:
        self._count = count
        self._counts: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        known = self._counts.get(text)
        if known is None:
            known = self._counts[text] = self._count(text)
            if len(self._counts) > CACHE_ENTRIES:
                self._counts.pop(next(iter(self._counts)), None)
        return known


def _piece_tokens(digit: str, lower: str, capitals: str, other: str, space: str, punctuation: str) -> int:
    if digit:
        return 1
    if lower:
        return math.ceil(len(lower.lstrip(" ")) / 4)
    if capitals:
        return math.ceil(2 * len(capitals.lstrip(" ")) / 3)
    if other:
        return math.ceil(len(other.lstrip(" ").encode()) / 2)
    if space:
        return math.ceil(len(space) / 8)
    return math.ceil(len(punctuation.encode()) / 2)


class EstimateCounter:
    """Tokens without a tokenizer: an estimate that over-counts real BPE tokenizers.

    A text is split into the pieces a BPE pre-tokenizer makes (PIECES) and each piece costs: a digit 1; a lowercase
    or Capitalised ASCII word (with its leading space) ceil(letters / 4); a run of ASCII capitals ceil(2 * letters /
    3) (random IDs such as reservation codes tokenize badly); other letters (accents, Cyrillic, CJK) ceil(bytes /
    2); whitespace ceil(length / 8); punctuation ceil(bytes / 2). Plus the template overheads (module docstring).
    Measured on tau2 airline and telecom policies, tool schemas, database records and random IDs against cl100k,
    o200k, Claude's tokenizer and Qwen's digit splitting: 1.25x to 1.6x the real count on policy, tools and records,
    1.0x to 1.1x on random capitals and digits, never below. A plain ceil(bytes / 3) under-counts JSON tool results
    (0.8x to 0.9x), which is why it is not used. An estimate is not a guarantee: serve with a tokenizer folder
    (ContextConfig.tokenizer) where the context is tight.
    """

    def __init__(self) -> None:
        self.text_tokens = TextCounts(estimate_tokens)

    def count(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]) -> int:
        return count_request(messages, tools, self.text_tokens)


def estimate_tokens(text: str) -> int:
    """EstimateCounter's tokens for one text (its docstring says how)."""
    return sum(_piece_tokens(*groups) for groups in PIECES.findall(text))


class TokenizerCounter:
    """Tokens from the model's own tokenizer (a `tokenizers.Tokenizer`): each message's content and tool-call JSON
    encoded without special tokens, plus the per-message and per-call chat-template overheads (module docstring),
    which are fixed numbers rather than the template rendered: the count is exact for the text, close for the rest.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self.text_tokens = TextCounts(self._encoded_tokens)

    @classmethod
    def from_folder(cls, path: Path) -> TokenizerCounter:
        """The tokenizer.json in `path` (a folder, or the file itself)."""
        file = path if path.name == "tokenizer.json" and path.is_file() else path / "tokenizer.json"
        if not file.is_file():
            raise AgentConfigError(f"context.tokenizer: {path} has no tokenizer.json (give the folder of a Hugging "
                                   "Face tokenizer, or leave tokenizer unset to use an over-counting estimate)")
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - tokenizers is a dependency of taustack
            raise AgentConfigError(f"context.tokenizer: the tokenizers package is not installed ({exc})") from None
        try:
            tokenizer = Tokenizer.from_file(str(file))
        except Exception as exc:  # tokenizers raises its own Exception subclass for an unreadable file
            raise AgentConfigError(f"context.tokenizer: {file} is not a tokenizers file: {exc}") from None
        return cls(tokenizer)

    def _encoded_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]) -> int:
        return count_request(messages, tools, self.text_tokens)


def counter_for(config: ContextConfig) -> TokenCounter:
    """The tokenizer folder's counter where config.tokenizer is set (AgentConfigError without a tokenizer.json),
    else EstimateCounter."""
    if config.tokenizer:
        return TokenizerCounter.from_folder(Path(config.tokenizer))
    return EstimateCounter()


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
