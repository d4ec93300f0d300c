"""Protocol-faithful fake Ollama server for integration tests (Python 3.11 stdlib only).

Speaks the native API (/api/*) and the OpenAI-compatible API (/v1/*) with deterministic answers and
configurable timing (see README.md).  This module: config, HTTP server, routing and endpoints; the model
store is fake_models.py, the generated answers fake_answers.py.  Run ``ollama serve``.
"""
from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partialmethod
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent / "common"))  # fake_common in a checkout (images: beside)

import fake_answers as answers
from fake_common import FakeHandler, serve
from fake_models import ApiError, Json, Loaded, Store, keep_alive_seconds, public, push_steps, show_info

VERSION = "0.12.6"
NDJSON, JSON_CT, SSE = "application/x-ndjson", "application/json; charset=utf-8", "text/event-stream"


def parse_host(value: str | None, default_port: int = 11434) -> tuple[str, int]:
    """Parse OLLAMA_HOST ("0.0.0.0:11434", "http://127.0.0.1", "[::]:1") into (host, port)."""
    v = re.sub(r"^https?://", "", (value or "").strip()).rstrip("/")
    if v.startswith("["):  # [v6]:port
        host, _, port = v[1:].partition("]")
    else:
        host, _, port = v.partition(":") if v.count(":") == 1 else (v, "", "")
    return host or "0.0.0.0", int(port.lstrip(":") or default_port)


@dataclass
class Config:
    """Server settings, read from the environment by :meth:`from_env` (see README.md)."""

    host: str
    port: int
    models: Path
    replica: str
    latency_ms: float
    token_delay_ms: float
    tokens: int
    pull_delay_ms: float
    keep_alive: float
    preload: list[str]

    @classmethod
    def from_env(cls, env: Any = os.environ) -> Config:
        """Build a Config from OLLAMA_* / FAKE_* variables with the documented defaults."""
        host, port = parse_host(env.get("OLLAMA_HOST") or "0.0.0.0:11434")
        return cls(host, port, Path(env.get("OLLAMA_MODELS") or "/root/.ollama/models"),
                   env.get("FAKE_REPLICA_ID") or socket.gethostname(), float(env.get("FAKE_LATENCY_MS") or 0),
                   float(env.get("FAKE_TOKEN_DELAY_MS") or 20), int(env.get("FAKE_TOKENS") or 8),
                   float(env.get("FAKE_PULL_DELAY_MS") or 300), keep_alive_seconds(env.get("OLLAMA_KEEP_ALIVE"), 300),
                   [m.strip() for m in env.get("FAKE_PRELOADED_MODELS", "").split(",") if m.strip()])


class FakeOllamaServer(ThreadingHTTPServer):
    """Threading HTTP server holding the config, the model store and the loaded-model table."""

    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: the default 5 drops connections under a burst

    def __init__(self, cfg: Config) -> None:
        self.address_family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
        super().__init__((cfg.host, cfg.port), Handler)
        self.cfg, self.store, self.loaded, self.replica = cfg, Store(cfg.models), Loaded(), cfg.replica
        # like Ollama, at most OLLAMA_NUM_PARALLEL requests generate at once; the others wait their turn
        parallel = int(os.environ.get("OLLAMA_NUM_PARALLEL") or 0)
        self.slots = threading.BoundedSemaphore(parallel) if parallel > 0 else None


INFERENCE = {"chat", "generate", "embed", "embeddings", "v1_chat", "v1_completions", "v1_embeddings"}


ROUTES = {"GET /": "root", "GET /api/version": "version", "GET /api/tags": "tags", "GET /api/ps": "ps",
          "POST /api/show": "show", "POST /api/pull": "pull", "POST /api/push": "push", "POST /api/create": "create",
          "POST /api/copy": "copy", "DELETE /api/delete": "delete", "POST /api/delete": "delete",
          "POST /api/chat": "chat", "POST /api/generate": "generate", "POST /api/embed": "embed",
          "POST /api/embeddings": "embeddings", "GET /v1/models": "v1_models", "POST /v1/chat/completions": "v1_chat",
          "POST /v1/completions": "v1_completions", "POST /v1/embeddings": "v1_embeddings"}


class Handler(FakeHandler):
    """Serves one HTTP/1.1 keep-alive connection; ``h_*`` methods implement the endpoints."""

    server: FakeOllamaServer
    json_type = JSON_CT

    def route(self) -> None:
        """Route the request (HEAD is GET without a body)."""
        method = "GET" if self.command == "HEAD" else self.command
        route = ROUTES.get(f"{method} {self.path_only}")
        if route is None:
            return self._send(404, b"404 page not found", "text/plain")
        if route in INFERENCE and self.server.slots is not None:
            with self.server.slots:
                getattr(self, "h_" + route)()
        else:
            getattr(self, "h_" + route)()

    def fail(self, exc: Exception) -> None:
        self._error(exc.status if isinstance(exc, ApiError) else 500, str(exc))

    def _req(self) -> Json:
        if not self.body.strip():
            raise ApiError(400, "missing request body")
        try:
            req = json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, f"invalid JSON: {exc}") from None
        if not isinstance(req, dict):
            raise ApiError(400, "json: cannot unmarshal value into Go value of type api.Request")
        keep_alive_seconds(req.get("keep_alive"), 0)  # validate before any response starts
        return req

    def _error(self, code: int, message: str) -> None:
        if self.path_only.startswith("/v1/"):  # the OpenAI-compat middleware wraps errors like this
            kind = {400: "invalid_request_error", 404: "not_found_error"}.get(code, "api_error")
            return self._json({"error": {"message": message, "type": kind, "param": None, "code": None}}, code)
        self._json({"error": message}, code)

    def _ndjson(self, req: Json, items: Iterator[Json]) -> None:
        """NDJSON stream, or (stream: false) only the last object as plain JSON."""
        if req.get("stream") is False:
            *_, last = items
            return self._json(last)
        self._stream(NDJSON, (answers.dump(x) + b"\n" for x in items))

    def _model(self, req: Json) -> tuple[str, Json]:
        """Resolve the model of an inference request; 404 in Ollama's wording if not pulled."""
        raw = req.get("model") or req.get("name")
        entry = self.server.store.get(raw)
        if entry is None:
            raise ApiError(404, f'model "{raw}" not found, try pulling it first')
        return str(raw), entry

    def _plan(self, limit: Any) -> tuple[list[str], str, float]:
        """Sleep the service latency; return (tokens, done_reason, per-token delay in seconds)."""
        cfg, n, reason = self.server.cfg, int(self._knob("X-Fake-Tokens", self.server.cfg.tokens)), "stop"
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit < n:
            n, reason = limit, "length"
        time.sleep(self._knob("X-Fake-Latency-Ms", cfg.latency_ms) / 1000)
        return answers.tokens(n), reason, self._knob("X-Fake-Token-Delay-Ms", cfg.token_delay_ms) / 1000

    def _load(self, entry: Json, keep_alive: Any = None) -> None:
        """Mark a model loaded until now + keep_alive; keep_alive 0 unloads it."""
        self.server.loaded.load(entry, keep_alive_seconds(keep_alive, self.server.cfg.keep_alive))

    # ---- native API --------------------------------------------------------------------------
    def h_root(self) -> None:
        self._send(200, b"Ollama is running", "text/plain; charset=utf-8")

    def h_version(self) -> None:
        self._json({"version": VERSION})

    def h_tags(self) -> None:
        self._json({"models": [public(m) for m in self.server.store.all()]})

    def h_ps(self) -> None:
        self._json({"models": self.server.loaded.ps()})

    def h_show(self) -> None:
        self._json(show_info(self.server.store.existing((req := self._req()).get("model") or req.get("name"))))

    def h_pull(self) -> None:
        name = (req := self._req()).get("model") or req.get("name")
        self._ndjson(req, self.server.store.pull(name, self.server.cfg.pull_delay_ms))

    def h_push(self) -> None:
        self._ndjson(req := self._req(), push_steps(self.server.store.existing(req.get("model") or req.get("name"))))

    def h_create(self) -> None:
        name = (req := self._req()).get("model") or req.get("name")
        self._ndjson(req, self.server.store.create(name, req.get("from")))

    def h_copy(self) -> None:
        src = self.server.store.existing((req := self._req()).get("source"))
        self.server.store.put(str(req.get("destination") or ""), src["_raw"])
        self._send(200, b"")

    def h_delete(self) -> None:
        if not self.server.store.delete(raw := (req := self._req()).get("model") or req.get("name")):
            raise ApiError(404, f"model '{raw}' not found")
        self._send(200, b"")

    def _native(self, chat: bool) -> None:
        """Shared /api/chat ("message" objects) and /api/generate ("response" strings) logic."""
        raw, entry = self._model(req := self._req())
        if not (req.get("messages") if chat else req.get("prompt")):  # just load (or unload) the model
            self._load(entry, req.get("keep_alive"))
            unload = keep_alive_seconds(req.get("keep_alive"), 1) == 0
            return self._json(answers.Reply(raw, chat, []).native_loaded(unload))
        t0, prompt_n = time.monotonic(), answers.count_words(req.get("messages") or req.get("prompt")) + 10
        tool = answers.pick_tool(req.get("tools")) if chat else None
        toks, reason, delay = self._plan((req.get("options") or {}).get("num_predict"))
        self._load(entry)
        reply = answers.Reply(raw, chat, toks, reason, delay, prompt_n, tool, t0)
        self._ndjson(req, reply.native_lines(req.get("stream") is not False))
        self._load(entry, req.get("keep_alive"))

    h_chat, h_generate = partialmethod(_native, chat=True), partialmethod(_native, chat=False)

    def h_embed(self) -> None:
        raw, entry = self._model(req := self._req())
        inp = req.get("input")
        texts = [inp] if isinstance(inp, str) and inp else [str(x) for x in inp] if isinstance(inp, list) else []
        self._plan(None)
        self._load(entry, req.get("keep_alive"))
        self._json(answers.native_embed(raw, texts, req.get("dimensions")))

    def h_embeddings(self) -> None:
        _, entry = self._model(req := self._req())
        self._plan(None)
        self._load(entry, req.get("keep_alive"))
        self._json({"embedding": answers.embed_vec(str(req["prompt"])) if req.get("prompt") else []})

    # ---- OpenAI-compatible API ---------------------------------------------------------------
    def h_v1_models(self) -> None:
        self._json(answers.openai_models(self.server.store.all()))

    def _openai(self, chat: bool) -> None:
        """Shared /v1/chat/completions and /v1/completions logic (SSE when stream is true)."""
        raw, entry = self._model(req := self._req())
        prompt_n = answers.count_words(req.get("messages") if chat else req.get("prompt")) + 10
        tool = answers.pick_tool(req.get("tools"), req.get("tool_choice")) if chat else None
        toks, reason, delay = self._plan(req.get("max_completion_tokens", req.get("max_tokens")))
        self._load(entry)
        reply = answers.Reply(raw, chat, toks, reason, delay, prompt_n, tool)
        if not req.get("stream"):
            return self._json(reply.openai_body())
        self._stream(SSE, reply.openai_sse(req.get("stream_options")))

    h_v1_chat, h_v1_completions = partialmethod(_openai, chat=True), partialmethod(_openai, chat=False)

    def h_v1_embeddings(self) -> None:
        raw, entry = self._model(req := self._req())
        inp = req.get("input")
        if not (texts := [inp] if isinstance(inp, str) else [str(x) for x in inp or []]):
            raise ApiError(400, "invalid input")
        self._plan(None)
        self._load(entry)
        self._json(answers.openai_embeddings(raw, texts, req.get("dimensions"), req.get("encoding_format")))


def main() -> int:
    """Start the fake server from environment configuration; serve until SIGTERM or SIGINT."""
    cfg = Config.from_env()
    srv = FakeOllamaServer(cfg)
    srv.store.preload(cfg.preload)
    print(f'level=INFO source=fake_ollama.py msg="Listening on {cfg.host}:{cfg.port} (version {VERSION})" '
          f"replica={cfg.replica} models={cfg.models}", file=sys.stderr, flush=True)
    return serve(srv)


if __name__ == "__main__":
    sys.exit(main())
