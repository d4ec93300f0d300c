"""The fake Ollama's answers: deterministic tokens, embeddings and tool calls, in Ollama and OpenAI shapes.

Tokens are "The quick brown fox ...", embeddings are hash-based, tool-call arguments are built from the
tool's JSON schema.  :class:`Reply` renders one generated answer as native NDJSON objects or as OpenAI
completion objects / SSE chunks.  Stdlib only.
"""
from __future__ import annotations

import base64
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fake_common import dump, embed_vec, fake_args
from fake_models import Json, iso

WORDS = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".")


def tokens(n: int) -> list[str]:
    """The first ``n`` tokens of the endless "The quick brown fox ..." answer."""
    return [WORDS[i % len(WORDS)] for i in range(n)]


def ticks(toks: list[str], delay: float) -> Iterator[str]:
    """Yield each token after sleeping ``delay`` seconds, as a model generating them would."""
    for tok in toks:
        time.sleep(delay)
        yield tok


def native_embed(model: str, texts: list[str], dims: Any) -> Json:
    """The /api/embed body: one ``dims``-dimensional (default 8) embedding per text."""
    return {"model": model, "embeddings": [embed_vec(t, int(dims or 8)) for t in texts],
            "total_duration": 2_000_000, "load_duration": 1_000_000, "prompt_eval_count": count_words(texts)}


def openai_embeddings(model: str, texts: list[str], dims: Any, encoding_format: Any) -> Json:
    """The /v1/embeddings body: float lists, or little-endian float32 in base64 when asked for."""
    vecs = [embed_vec(t, int(dims or 8)) for t in texts]
    data = [{"object": "embedding", "index": i, "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode()
             if encoding_format == "base64" else v} for i, v in enumerate(vecs)]
    n = count_words(texts)
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": n, "total_tokens": n}}


def openai_models(entries: list[Json]) -> Json:
    """The /v1/models body for the store entries ``entries``."""
    return {"object": "list", "data": [{"id": m["name"], "object": "model", "created": int(m["_mtime"]),
                                        "owned_by": "library"} for m in entries]}


def pick_tool(tools: Any, choice: Any = None) -> Json | None:
    """The tool to call: the one tool_choice names, else the first; None without tools or for "none"."""
    fns = [t.get("function", t) for t in tools or [] if isinstance(t, dict)]
    if not fns or choice == "none":
        return None
    want = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    fn = next((f for f in fns if f.get("name") == want), fns[0])
    return {"name": fn.get("name", ""), "arguments": fake_args(fn.get("parameters"))}


def count_words(value: Any) -> int:
    """Rough token count: whitespace-separated words of every string inside ``value``."""
    if isinstance(value, str):
        return len(value.split())
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return sum(count_words(v) for v in items)


@dataclass
class Reply:
    """One generated answer for ``model`` (the name as requested) of a chat or a plain completion.

    ``tokens`` are emitted ``delay`` seconds apart and end for ``reason``; with ``tool`` (from
    :func:`pick_tool`) the answer is a tool call instead of text.  ``t0`` is the request's monotonic start.
    """

    model: str
    chat: bool
    tokens: list[str]
    reason: str = "stop"
    delay: float = 0.0
    prompt_n: int = 0
    tool: Json | None = None
    t0: float = 0.0
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        """The OpenAI ids, tool calls, usage and finish reason (``created`` is the construction time)."""
        self.cid = f"{'chatcmpl' if self.chat else 'cmpl'}-{uuid.uuid4().int % 1000}"
        self.calls = [{"id": f"call_{uuid.uuid4().hex[:8]}", "index": 0, "type": "function",
                       "function": {"name": self.tool["name"], "arguments": dump(self.tool["arguments"]).decode()}}
                      ] if self.tool else []
        n = self.prompt_n
        self.usage = {"prompt_tokens": n, "completion_tokens": len(self.tokens), "total_tokens": n + len(self.tokens)}
        self.finish = "tool_calls" if self.tool else self.reason

    # ---- native API (/api/chat, /api/generate) -------------------------------------------------
    def native(self, text: str, **extra: Any) -> Json:
        """A chat ("message") or generate ("response") object without its done fields."""
        body = {"message": {"role": "assistant", "content": text, **extra}} if self.chat else {"response": text}
        return {"model": self.model, "created_at": iso(), **body}

    def native_loaded(self, unload: bool) -> Json:
        """The answer to a chat or generate without messages or prompt: the model was (un)loaded."""
        return {**self.native(""), "done": True, "done_reason": "unload" if unload else "load"}

    def stats(self) -> Json:
        """Ollama's timing and token-count fields of the final object."""
        total = max(int((time.monotonic() - self.t0) * 1e9), 3_000_000)
        return {"total_duration": total, "load_duration": 1_000_000, "prompt_eval_count": self.prompt_n,
                "prompt_eval_duration": 1_000_000, "eval_count": len(self.tokens), "eval_duration": total - 2_000_000}

    def native_lines(self, streaming: bool) -> Iterator[Json]:
        """NDJSON objects: one per token (or one tool-call object) when streaming, then the done object."""
        calls = {"tool_calls": [{"function": self.tool}]} if self.tool else {}
        ctx = {} if self.chat else {"context": list(range(1, self.prompt_n + len(self.tokens) + 1))}
        parts = []
        for tok in ticks(self.tokens, self.delay):
            parts.append(tok)
            if streaming and not self.tool:
                yield {**self.native(tok), "done": False}
        if streaming and self.tool:
            yield {**self.native("", **calls), "done": False}
        text = "" if self.tool or streaming else "".join(parts)
        yield {**self.native(text, **({} if streaming else calls)), "done": True, "done_reason": self.reason, **ctx,
               **self.stats()}

    # ---- OpenAI-compatible API (/v1/chat/completions, /v1/completions) ---------------------------
    def _obj(self, choice: Json, chunk: bool) -> Json:
        kind = ("chat.completion.chunk" if chunk else "chat.completion") if self.chat else "text_completion"
        return {"id": self.cid, "object": kind, "created": self.created, "model": self.model,
                "system_fingerprint": "fp_ollama", "choices": [{"index": 0, **choice}]}

    def openai_body(self) -> Json:
        """The whole (non-streamed) completion object, after waiting for every token."""
        text = "".join(ticks(self.tokens, self.delay))
        calls = {"tool_calls": self.calls} if self.tool else {}
        msg = {"message": {"role": "assistant", "content": "" if self.tool else text, **calls}}
        return {**self._obj({**(msg if self.chat else {"text": text}), "finish_reason": self.finish}, False),
                "usage": self.usage}

    def openai_events(self, stream_options: Any) -> Iterator[Json | str]:
        """Streamed chunks: role, one per token (or the tool calls), finish, optional usage, then "[DONE]"."""
        if self.chat:
            yield self._obj({"delta": {"role": "assistant", "content": ""}, "finish_reason": None}, True)
        for tok in ticks(self.tokens, self.delay):
            if not self.tool:
                yield self._obj({"delta": {"content": tok}, "finish_reason": None} if self.chat else
                                {"text": tok, "finish_reason": None}, True)
        if self.tool:
            yield self._obj({"delta": {"tool_calls": self.calls}, "finish_reason": None}, True)
        yield self._obj({"delta": {}, "finish_reason": self.finish} if self.chat else
                        {"text": "", "finish_reason": self.finish}, True)
        if (stream_options or {}).get("include_usage"):
            yield {**self._obj({}, True), "choices": [], "usage": self.usage}
        yield "[DONE]"

    def openai_sse(self, stream_options: Any) -> Iterator[bytes]:
        """:meth:`openai_events` framed as server-sent events."""
        return (b"data: %s\n\n" % (e.encode() if isinstance(e, str) else dump(e))
                for e in self.openai_events(stream_options))
