"""Protocol-faithful fake of vLLM's OpenAI server (``vllm serve``) for integration tests (Python 3.11 stdlib only).

Takes the command line ``vllm serve`` takes and serves vLLM's routes with deterministic answers and configurable
timing (see README.md).  This module: flags, HTTP server, routing and endpoints; the scheduler and metrics are
fake_vllm_engine.py, the generated answers fake_vllm_answers.py.  Run ``vllm serve MODEL [flags]``.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Generator
from functools import partialmethod
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent / "common"))  # fake_common in a checkout (images: beside)

import fake_vllm_answers as answers
from fake_common import serve
from fake_vllm_answers import ApiError, Json
from fake_vllm_config import VERSION, lora_modules, parse_args
from fake_vllm_engine import Engine
from fake_vllm_http import SSE, HttpHandler

PROM = "text/plain; version=0.0.4; charset=utf-8"


class FakeVllmServer(ThreadingHTTPServer):
    """Threading HTTP server holding the parsed flags, the fake timing knobs and the engine."""

    daemon_threads = True

    def __init__(self, args: argparse.Namespace, ignored: list[str], env: Any = os.environ) -> None:
        host = args.host or "0.0.0.0"
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, args.port), Handler)
        self.args, self.names, self.loras = args, list(args.served_model_name), lora_modules(args.lora_modules)
        self.ignored = ignored
        self.replica = env.get("FAKE_REPLICA_ID") or socket.gethostname()
        self.latency_ms = float(env.get("FAKE_LATENCY_MS") or 0)
        self.token_delay_ms = float(env.get("FAKE_TOKEN_DELAY_MS") or 10)
        self.tokens = int(env.get("FAKE_TOKENS") or 8)
        self.ready_at = time.monotonic() + float(env.get("FAKE_STARTUP_DELAY_MS") or 0) / 1000
        self.created = int(time.time())
        self.engine = Engine(args.max_num_seqs, args.enable_prefix_caching)


ROUTES = {"/health": "GET health", "/ping": "GET POST ping", "/version": "GET version", "/metrics": "GET metrics",
          "/v1/models": "GET models", "/v1/chat/completions": "POST chat", "/v1/completions": "POST completions",
          "/v1/embeddings": "POST embeddings", "/tokenize": "POST tokenize", "/detokenize": "POST detokenize",
          "/invocations": "POST invocations", "/pause": "POST pause", "/resume": "POST resume",
          "/is_paused": "GET is_paused", "/reset_prefix_cache": "POST reset_prefix_cache", "/-/args": "GET args"}


class Handler(HttpHandler):
    """Serves one HTTP/1.1 keep-alive connection; ``h_*`` methods implement the endpoints."""

    server: FakeVllmServer

    def route(self) -> None:
        """Auth (/v1 only, like vLLM's middleware), readiness, routing."""
        key = self.server.args.api_key
        if key and self.path_only.startswith("/v1") and self.command != "OPTIONS" and not self._authorized(key):
            return self._json({"error": "Unauthorized"}, 401)
        if time.monotonic() < self.server.ready_at and not self.path_only.startswith("/-/"):
            return self._send(503, b"")
        # vLLM mounts Prometheus's app on any path that starts with /metrics (/metrics/anything, /metricsX)
        path = "/metrics" if self.path_only.startswith("/metrics") else self.path_only
        methods, _, name = ROUTES.get(path, " ").rpartition(" ")
        if not name:
            return self._json({"detail": "Not Found"}, 404)
        if self.command not in methods.split():
            return self._json({"detail": "Method Not Allowed"}, 405)
        getattr(self, "h_" + name)()

    def _authorized(self, key: str) -> bool:
        """vLLM's check: `Authorization: <scheme> <key>`, the scheme `bearer` in any case."""
        scheme, _, given = self.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and given == key

    def fail(self, exc: Exception) -> None:
        err = exc if isinstance(exc, ApiError) else ApiError(500, f"{type(exc).__name__}: {exc}")
        self._json(err.body(), err.status)

    def _model(self, req: Json) -> str:
        """The model name vLLM reports for the request (LoRA name, else the first served name); 404 if unknown."""
        raw = req.get("model")
        if raw in self.server.loras:
            return str(raw)
        if raw and raw not in self.server.names:
            raise ApiError(404, f"The model `{raw}` does not exist.")
        return self.server.names[0]

    def _plan(self, req: Json, prompt_n: int) -> tuple[int, str]:
        """Check the context length; return (tokens to generate, finish reason)."""
        limit, max_len = req.get("max_completion_tokens", req.get("max_tokens")), self.server.args.max_model_len
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ApiError(400, f"max_tokens must be at least 1, got {limit}.")
        if prompt_n + (limit or 0) > max_len or prompt_n >= max_len:
            ask = f"you requested {prompt_n + limit} tokens ({prompt_n} in the messages, {limit} in the completion)" \
                if limit else f"your request has {prompt_n} input tokens"
            fix = "messages or completion" if limit else "input messages"
            raise ApiError(400, f"This model's maximum context length is {max_len} tokens. However, {ask}. "
                                f"Please reduce the length of the {fix}.")
        n, cap = int(self._knob("X-Fake-Tokens", self.server.tokens)), min(limit or max_len, max_len - prompt_n)
        return (cap, "length") if cap < n else (n, "stop")

    def _generate(self, ids: list[int], n: int, finish: str) -> Generator[str, None, None]:
        """Queue, sleep the prefill latency, then yield ``n`` tokens a token-delay apart, counting everything."""
        latency = self._knob("X-Fake-Latency-Ms", self.server.latency_ms) / 1000
        delay = self._knob("X-Fake-Token-Delay-Ms", self.server.token_delay_ms) / 1000
        with self.server.engine.request(ids) as r:
            time.sleep(latency)
            for tok in answers.tokens(n):
                time.sleep(delay)
                self.server.engine.token(r)
                yield tok
            r.reason = finish

    # ---- OpenAI API --------------------------------------------------------------------------
    def h_models(self) -> None:
        s = self.server
        cards = [answers.model_card(n, s.args.model, s.created, s.args.max_model_len) for n in s.names]
        cards += [answers.model_card(n, p, s.created, None, s.names[0]) for n, p in s.loras.items()]
        self._json({"object": "list", "data": cards})

    def _generation(self, chat: bool, req: Json | None = None) -> None:
        """Shared /v1/chat/completions and /v1/completions logic (SSE when stream is true)."""
        req = self._req() if req is None else req
        model, tool, choice = self._model(req), None, None
        if chat:
            tools = req.get("tools") or None
            choice = req.get("tool_choice", "auto" if tools else "none")
            if tools and choice == "auto" and not (self.server.args.enable_auto_tool_choice
                                                   and self.server.args.tool_call_parser):
                raise ApiError(400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser '
                                    "to be set")
            if choice not in ("none", "auto") and not tools:
                raise ApiError(400, "When using `tool_choice`, `tools` must be set.")
            tool = answers.pick_tool(tools, choice)
            ids = answers.tokenize(answers.render_chat(req.get("messages"), tools,
                                                       req.get("add_generation_prompt", True)))
        else:
            ids = answers.prompt_ids(req.get("prompt"))
        n, finish = self._plan(req, len(ids))
        reply = answers.Reply(model, chat, len(ids), tool, forced=choice not in (None, "auto", "none"))
        toks = self._generate(ids, n, finish)
        if req.get("stream"):
            chunks = reply.sse(toks, n, finish, req.get("stream_options"))
            return self._stream(SSE, chunks, chunks, toks)
        self._json(reply.body(toks, finish))

    h_chat, h_completions = partialmethod(_generation, chat=True), partialmethod(_generation, chat=False)

    def h_embeddings(self, req: Json | None = None) -> None:
        req = self._req() if req is None else req
        model, inp = self._model(req), req.get("input")
        texts = [inp] if isinstance(inp, str) else [x if isinstance(x, str) else json.dumps(x) for x in inp or []]
        ids = answers.prompt_ids(inp)
        self._plan({}, len(ids))
        with self.server.engine.request(ids) as r:
            time.sleep(self._knob("X-Fake-Latency-Ms", self.server.latency_ms) / 1000)
            r.reason = "stop"
        self._json(answers.embeddings(model, texts, req.get("dimensions"), req.get("encoding_format"), len(ids)))

    # ---- vLLM's own routes -------------------------------------------------------------------
    def h_health(self) -> None:
        self._send(200, b"")

    h_ping = h_health

    def h_version(self) -> None:
        self._json({"version": VERSION})

    def h_metrics(self) -> None:
        self._send(200, self.server.engine.metrics(self.server.names[0]).encode(), PROM)

    def h_tokenize(self) -> None:
        req = self._req()
        self._model(req)
        if "messages" in req:
            text = answers.render_chat(req["messages"], req.get("tools"), req.get("add_generation_prompt", True))
        else:
            text = req.get("prompt") if isinstance(req.get("prompt"), str) else ""
        ids = answers.tokenize(text)
        strs = answers.pieces(ids) if req.get("return_token_strs") else None
        self._json({"count": len(ids), "max_model_len": self.server.args.max_model_len, "tokens": ids,
                    "token_strs": strs})

    def h_detokenize(self) -> None:
        req = self._req()
        self._model(req)
        if not isinstance(ids := req.get("tokens"), list):
            raise ApiError(400, "tokens: Input should be a valid list")
        self._json({"prompt": answers.detokenize(ids)})

    def h_invocations(self) -> None:
        """SageMaker-style entry point: dispatched on the body's shape like vLLM does."""
        req = self._req()
        if "messages" in req:
            return self._generation(True, req)
        if "prompt" in req:
            return self._generation(False, req)
        if "input" in req:
            return self.h_embeddings(req)
        raise ApiError(400, "Cannot find suitable handler for request. Expected one of: chat, completion, embed")

    def _pause(self, paused: bool) -> None:
        self.server.engine.pause(paused)
        self._send(200, b"")

    h_pause, h_resume = partialmethod(_pause, paused=True), partialmethod(_pause, paused=False)

    def h_is_paused(self) -> None:
        self._json({"is_paused": self.server.engine.paused})

    def h_reset_prefix_cache(self) -> None:
        self.server.engine.reset_prefix_cache()
        self._send(200, b"")

    def h_args(self) -> None:
        """Fake-only: the parsed flags, so tests can check what the stack passed to ``vllm serve``."""
        self._json({**vars(self.server.args), "lora_modules": self.server.loras, "ignored": self.server.ignored})


def main(argv: list[str] | None = None) -> int:
    """Start the fake server from ``vllm serve`` arguments; serve until SIGTERM or SIGINT."""
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    srv = FakeVllmServer(args, extra)
    log = f"(APIServer pid={os.getpid()}) INFO"
    print(f"{log} vLLM API server version {VERSION} (fake) model={args.model} served={args.served_model_name} "
          f"replica={srv.replica} ignored={extra}", file=sys.stderr, flush=True)
    up = f"{log} Starting vLLM API server 0 on {args.host or '0.0.0.0'}:{args.port}\nApplication startup complete."
    ready = threading.Timer(max(0.0, srv.ready_at - time.monotonic()), print, [up], {"file": sys.stderr, "flush": True})
    ready.daemon = True
    ready.start()
    return serve(srv)


if __name__ == "__main__":
    sys.exit(main())
