"""The fake vLLM's answers: a toy tokenizer, deterministic tokens, embeddings and tool calls in vLLM's OpenAI shapes.

Text is split into whitespace-led pieces ("Hello", " world") whose ids are hashes, so /tokenize, /detokenize and
the usage counts agree; chats are rendered with a ChatML-like template first.  Generated tokens are
"The quick brown fox ...", embeddings are hash-based, tool-call arguments are built from the tool's JSON schema.
:class:`Reply` renders one generated answer as a completion object or as SSE chunks.  Stdlib only.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import fake_common
from fake_common import Json, embed_vec, fake_args

WORDS = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".")
VOCAB_SIZE = 151_936  # Qwen2.5's, so ids look plausible
PIECE = re.compile(r"\s*\S+|\s+")
_VOCAB: dict[int, str] = {}  # id -> piece for every piece seen, so /detokenize can invert


class ApiError(fake_common.ApiError):
    """An error answered as vLLM's OpenAI error object with HTTP status ``status``."""

    KINDS: ClassVar[dict[int, str]] = {400: "BadRequestError", 404: "NotFoundError", 500: "InternalServerError"}

    def body(self) -> Json:
        """{"object": "error", "message", "type", "param", "code"} like vLLM's ErrorResponse."""
        kind = self.KINDS.get(self.status, "InternalServerError")
        return {"object": "error", "message": str(self), "type": kind, "param": None, "code": self.status}


def dump(obj: Any) -> bytes:
    """Compact UTF-8 JSON like Starlette's JSONResponse and pydantic's model_dump_json."""
    return fake_common.dump(obj, ensure_ascii=False)


def token_id(piece: str) -> int:
    """The (hash-derived, stable across replicas) id of one piece; remembered for :func:`detokenize`."""
    tid = 1_000 + int.from_bytes(hashlib.sha256(piece.encode()).digest()[:4], "big") % (VOCAB_SIZE - 1_000)
    _VOCAB.setdefault(tid, piece)
    return tid


def tokenize(text: str) -> list[int]:
    """Token ids of ``text``: one per whitespace-led piece."""
    return [token_id(p) for p in PIECE.findall(text)]


def pieces(ids: Iterable[int]) -> list[str]:
    """The piece of every id; 400 for ids outside the vocabulary, "" for ids this replica never produced."""
    out = []
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < VOCAB_SIZE:
            raise ApiError(400, f"Token id {i} is out of vocabulary")
        out.append(_VOCAB.get(i, ""))
    return out


def detokenize(ids: Iterable[int]) -> str:
    """The text of token ids (inverse of :func:`tokenize`)."""
    return "".join(pieces(ids))


def tokens(n: int) -> list[str]:
    """The first ``n`` tokens of the endless "The quick brown fox ..." answer (registered in the vocabulary)."""
    out = [WORDS[i % len(WORDS)] for i in range(n)]
    for tok in out:
        token_id(tok)
    return out


def text_of(content: Any) -> str:
    """The text of a message content: a string, or a list of parts ({"type": "text", "text": ...}, images ...)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or f"<|{p.get('type', 'part')}|>" if isinstance(p, dict) else str(p)
                       for p in content)
    return "" if content is None else json.dumps(content)


def render_chat(messages: Any, tools: Any = None, add_generation_prompt: bool = True) -> str:
    """The prompt a ChatML chat template makes of ``messages`` (and the tool definitions)."""
    if not isinstance(messages, list) or not all(isinstance(m, dict) and m.get("role") for m in messages):
        raise ApiError(400, "messages: Input should be a valid list of messages with a role")
    out = [f"<|im_start|>system\n<tools>\n{json.dumps(tools)}\n</tools><|im_end|>\n"] if tools else []
    for m in messages:
        calls = "".join(f"\n<tool_call>\n{json.dumps(c.get('function'))}\n</tool_call>"
                        for c in m.get("tool_calls") or [] if isinstance(c, dict))
        out.append(f"<|im_start|>{m['role']}\n{text_of(m.get('content'))}{calls}<|im_end|>\n")
    return "".join(out) + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def prompt_ids(prompt: Any) -> list[int]:
    """Token ids of a completions/embeddings input: a string, strings, token ids or lists of token ids."""
    if isinstance(prompt, str):
        return tokenize(prompt)
    if isinstance(prompt, list) and prompt and all(isinstance(x, int) and not isinstance(x, bool) for x in prompt):
        return list(prompt)
    if isinstance(prompt, list) and prompt:
        return [i for x in prompt for i in prompt_ids(x)]
    raise ApiError(400, "Either prompt or prompt_embeds must be provided and non-empty.")


def pick_tool(tools: Any, choice: Any) -> Json | None:
    """The tool to call: the function tool_choice names, else the first; None without tools or for "none"."""
    fns = [t.get("function", t) for t in tools or [] if isinstance(t, dict)]
    if not fns or choice == "none":
        return None
    if isinstance(choice, dict):
        want = (choice.get("function") or {}).get("name")
        if not (fn := next((f for f in fns if f.get("name") == want), None)):
            raise ApiError(400, f"Tool '{want}' has not been passed in `tools`.")
    else:
        fn = fns[0]
    return {"name": fn.get("name", ""), "arguments": fake_args(fn.get("parameters"))}


def usage(prompt_n: int, completion_n: int) -> Json:
    """vLLM's UsageInfo."""
    return {"prompt_tokens": prompt_n, "total_tokens": prompt_n + completion_n, "completion_tokens": completion_n,
            "prompt_tokens_details": None}


def embeddings(model: str, texts: list[str], dims: Any, encoding_format: Any, prompt_n: int) -> Json:
    """The /v1/embeddings body: float lists, or little-endian float32 in base64 when asked for."""
    vecs = [embed_vec(t, int(dims or 8)) for t in texts]
    data = [{"index": i, "object": "embedding", "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode()
             if encoding_format == "base64" else v} for i, v in enumerate(vecs)]
    return {"id": f"embd-{uuid.uuid4().hex}", "object": "list", "created": int(time.time()), "model": model,
            "data": data, "usage": usage(prompt_n, 0)}


def model_card(name: str, root: str, created: int, max_model_len: int | None, parent: str | None = None) -> Json:
    """One /v1/models entry (a served name, or a LoRA adapter with its base model as ``parent``)."""
    perm = {"id": f"modelperm-{uuid.uuid4().hex}", "object": "model_permission", "created": created,
            "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
            "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False, "organization": "*",
            "group": None, "is_blocking": False}
    return {"id": name, "object": "model", "created": created, "owned_by": "vllm", "root": root, "parent": parent,
            "max_model_len": max_model_len, "permission": [perm]}


def split(text: str, k: int) -> list[str]:
    """``text`` cut into ``k`` consecutive slices (some possibly empty)."""
    return [text[len(text) * i // k:len(text) * (i + 1) // k] for i in range(k)]


@dataclass
class Reply:
    """One generated answer for ``model`` (the name vLLM reports) to a chat or a plain completion.

    With ``tool`` (from :func:`pick_tool`) the answer is a tool call; ``forced`` is true when tool_choice named
    the function or was "required" (content "" rather than null, like vLLM's guided tool calls).
    """

    model: str
    chat: bool
    prompt_n: int
    tool: Json | None = None
    forced: bool = False
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        """The response id and the tool call (arguments as a JSON string, like the hermes parser writes it)."""
        self.cid = f"{'chatcmpl' if self.chat else 'cmpl'}-{uuid.uuid4().hex}"
        self.args = json.dumps(self.tool["arguments"], ensure_ascii=False) if self.tool else ""
        self.call_id = f"chatcmpl-tool-{uuid.uuid4().hex}"

    def _obj(self, choices: list[Json], chunk: bool) -> Json:
        kind = ("chat.completion.chunk" if chunk else "chat.completion") if self.chat else "text_completion"
        return {"id": self.cid, "object": kind, "created": self.created, "model": self.model, "choices": choices}

    def body(self, toks: Iterable[str], finish: str) -> Json:
        """The whole (non-streamed) completion object, after waiting for every token."""
        text, n = "", 0
        for tok in toks:
            text, n = text + tok, n + 1
        if not self.chat:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish, "stop_reason": None,
                      "prompt_logprobs": None}
            return {**self._obj([choice], False), "service_tier": None, "system_fingerprint": None,
                    "usage": usage(self.prompt_n, n), "kv_transfer_params": None}
        calls = [{"id": self.call_id, "type": "function", "function": {"name": self.tool["name"],
                                                                       "arguments": self.args}}] if self.tool else []
        msg = {"role": "assistant", "content": ("" if self.forced else None) if self.tool else text, "refusal": None,
               "annotations": None, "audio": None, "function_call": None, "tool_calls": calls,
               "reasoning_content": None}
        choice = {"index": 0, "message": msg, "logprobs": None,
                  "finish_reason": "tool_calls" if self.tool else finish, "stop_reason": None}
        return {**self._obj([choice], False), "service_tier": None, "system_fingerprint": None,
                "usage": usage(self.prompt_n, n), "prompt_logprobs": None, "prompt_token_ids": None,
                "kv_transfer_params": None}

    def _choice(self, delta: Json, finish: str | None) -> Json:
        if not self.chat:
            return {"index": 0, "text": delta.get("content", ""), "logprobs": None, "finish_reason": finish,
                    "stop_reason": None}
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish,
                **({"stop_reason": None} if finish else {})}

    def _deltas(self, toks: list[str], i: int, last: bool) -> Json:
        """The delta for token ``i``: its text, or the tool call's name (first) and a slice of its arguments."""
        if not self.tool:
            return {"content": toks[i]}
        cuts = split(self.args, max(len(toks) - 1, 1))
        args = "".join(cuts[max(i - 1, 0):]) if last else cuts[i - 1] if i else ""
        fn = {"name": self.tool["name"], "arguments": args} if i == 0 else {"arguments": args}
        head = {"id": self.call_id, "type": "function"} if i == 0 else {}
        return {"tool_calls": [{"index": 0, **head, "function": fn}]}

    def events(self, toks: Iterator[str], n: int, finish: str, stream_options: Any) -> Iterator[Json | str]:
        """Streamed chunks: role, one per token (the last one with the finish reason), usage, then "[DONE]".

        ``toks`` yields the ``n`` tokens as they are generated.
        """
        opts = stream_options if isinstance(stream_options, dict) else {}
        each = opts.get("include_usage") and opts.get("continuous_usage_stats")
        role = self._obj([self._choice({"role": "assistant", "content": ""}, None)], True)
        finish = "tool_calls" if self.tool else finish
        planned, got = tokens(n), 0
        for i, _ in enumerate(toks):  # the role chunk comes with the first token, as vLLM sends it after prefill
            if i == 0 and self.chat:
                yield role
            got, last = i + 1, i == n - 1
            chunk = self._obj([self._choice(self._deltas(planned, i, last), finish if last else None)], True)
            yield {**chunk, "usage": usage(self.prompt_n, got)} if each else chunk
        if got == 0:
            yield from [role] if self.chat else []
            yield self._obj([self._choice({"content": ""}, finish)], True)
        if opts.get("include_usage"):
            yield {**self._obj([], True), "usage": usage(self.prompt_n, got)}
        yield "[DONE]"

    def sse(self, toks: Iterator[str], n: int, finish: str, stream_options: Any) -> Iterator[bytes]:
        """:meth:`events` framed as server-sent events."""
        for e in self.events(toks, n, finish, stream_options):
            yield b"data: %s\n\n" % (e.encode() if isinstance(e, str) else dump(e))
