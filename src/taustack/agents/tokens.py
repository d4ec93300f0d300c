"""Token counts of a chat request: a tokenizer folder's exact counts, else an estimate that over-counts.

Every count is the prompt as the engine will see it, approximately: each message's text (content, tool-call names
and arguments) plus a fixed per-message overhead for the chat template's tokens (`<|im_start|>assistant\\n` ...
`<|im_end|>\\n` is 5 tokens with Qwen's template, 5 with Llama 3's), a per-call overhead for the tool-call wrapper
(`<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>`), the tools' JSON plus a fixed overhead for the
template's tool preamble (about 100 tokens with Qwen2.5's, more with Llama 3.1's), and the generation prompt.

Pure: stdlib only (`tokenizers` is imported inside TokenizerCounter.from_folder).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from taustack.agents.config import AgentConfigError, ContextConfig

MESSAGE_OVERHEAD = 8  # chat-template tokens around one message (5 with Qwen's and Llama 3's templates), rounded up
CALL_OVERHEAD = 16  # the wrapper around one tool call (<tool_call>, {"name": ..., "arguments": ...}, </tool_call>)
TOOLS_OVERHEAD = 200  # the template's tool preamble ("# Tools ... <tools></tools> ..."), once when tools are sent
REPLY_PRIMING = 4  # the generation prompt (<|im_start|>assistant\n)
CACHE_ENTRIES = 8192  # texts whose count is remembered (the history is recounted every turn)

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
