"""Protocol-faithful fake Ollama server for integration tests (Python 3.11 stdlib only).

Speaks the native API (/api/*) and the OpenAI-compatible API (/v1/*) with deterministic
answers and configurable timing (see README.md).  Models "on disk" are manifest files under
$OLLAMA_MODELS, so replicas sharing a volume see each other's pulls.  Run ``ollama serve``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partialmethod
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

VERSION = "0.12.6"
REGISTRY = "registry.ollama.ai"
WORDS = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".")
NDJSON, JSON_CT, SSE = "application/x-ndjson", "application/json; charset=utf-8", "text/event-stream"
FOREVER = 10_999_999_999.0  # Ollama reports a year-2318 expiry for keep_alive < 0
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
Json = dict[str, Any]


class ApiError(Exception):
    """An error answered as a JSON body with HTTP status ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def dump(obj: Any) -> bytes:
    """Compact JSON like Go's encoding/json."""
    return json.dumps(obj, separators=(",", ":")).encode()


def iso(ts: float | None = None) -> str:
    """Format a UNIX time as RFC 3339 UTC, like Go's time.RFC3339Nano."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_host(value: str | None, default_port: int = 11434) -> tuple[str, int]:
    """Parse OLLAMA_HOST ("0.0.0.0:11434", "http://127.0.0.1", "[::]:1") into (host, port)."""
    v = re.sub(r"^https?://", "", (value or "").strip()).rstrip("/")
    if v.startswith("["):  # [v6]:port
        host, _, port = v[1:].partition("]")
    else:
        host, _, port = v.partition(":") if v.count(":") == 1 else (v, "", "")
    return host or "0.0.0.0", int(port.lstrip(":") or default_port)


def parse_name(name: Any) -> tuple[Path, str]:
    """Map a model name to (manifest path below manifests/, canonical display name "name:tag")."""
    n = re.sub(r"^https?://", "", str(name or "").strip())
    if not n:
        raise ApiError(400, "model is required")
    base, tag = n.rsplit(":", 1) if n.rfind(":") > n.rfind("/") else (n, "latest")
    parts = base.split("/")
    parts = {1: [REGISTRY, "library"], 2: [REGISTRY]}.get(len(parts), []) + parts
    if len(parts) != 3 or not all(re.fullmatch(r"\w[\w.\-]*", p) for p in (*parts, tag)):
        raise ApiError(400, f'invalid model name "{n}"')
    host, ns, model = parts
    prefix = "" if host == REGISTRY and ns == "library" else (f"{ns}/" if host == REGISTRY else f"{host}/{ns}/")
    return Path(host, ns, model, tag), f"{prefix}{model}:{tag}"


def keep_alive_seconds(value: Any, default: float) -> float:
    """Parse keep_alive (seconds or a Go duration such as "5m"); negative means forever."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        parts = re.findall(r"(-?[\d.]+)(ns|us|µs|ms|s|m|h)", str(value))
        if not parts or "".join(a + b for a, b in parts) != str(value):
            raise ApiError(400, f'time: invalid duration "{value}"') from None
        return sum(float(a) * UNITS[b] for a, b in parts)


def embed_vec(text: str, dims: int = 8) -> list[float]:
    """Deterministic L2-normalised embedding derived from SHA-256 hashes of the text."""
    raw = b"".join(hashlib.sha256(f"{i}:{text}".encode()).digest() for i in range(dims // 32 + 1))
    v = [b / 127.5 - 1.0 for b in raw[:dims]]
    norm = sum(x * x for x in v) ** 0.5 or 1.0
    return [round(x / norm, 6) for x in v]


def fake_args(schema: Any) -> Json:
    """Tool-call arguments from a JSON schema: first enum value, true, 1, "x", [] or a nested object."""
    out: Json = {}
    for key, spec in ((schema or {}).get("properties") or {}).items() if isinstance(schema, dict) else ():
        spec = spec if isinstance(spec, dict) else {}
        typ = spec.get("type")
        typ = typ[0] if isinstance(typ, list) and typ else typ
        out[key] = spec["enum"][0] if spec.get("enum") else fake_args(spec) if typ == "object" else \
            {"boolean": True, "integer": 1, "number": 1, "array": []}.get(str(typ), "x")
    return out


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


def fake_model(display: str) -> tuple[str, int]:
    """Deterministic (sha256 hex digest, byte size) of a model name."""
    h = hashlib.sha256(display.encode()).hexdigest()
    return h, 1_000_000_000 + int(h[:8], 16) % 3_000_000_000


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


class Store:
    """Model manifests on disk: <models>/manifests/<registry>/<namespace>/<model>/<tag> (JSON)."""

    def __init__(self, root: Path) -> None:
        self.manifests = root / "manifests"

    def put(self, name: str, data: Json | None = None) -> None:
        """Write a manifest atomically (temp file + rename); ``data`` copies another model's."""
        rel, display = parse_name(name)
        h, size = fake_model(display)
        data = data or {"schemaVersion": 2, "digest": f"sha256:{h}", "size": size,
                        "family": "bert" if "embed" in display else "llama"}
        path = self.manifests / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    def get(self, name: Any) -> Json | None:
        """The model's /api/tags entry (plus private _mtime/_raw keys), or None if not on disk."""
        rel, display = parse_name(name)
        try:
            path = self.manifests / rel
            data, mtime = json.loads(path.read_text()), path.stat().st_mtime
        except (OSError, ValueError):
            return None
        fam = data.get("family", "llama")
        details = {"parent_model": "", "format": "gguf", "family": fam, "families": [fam],
                   "parameter_size": f"{data['size'] / 0.6e9:.1f}B", "quantization_level": "Q4_K_M"}
        return {"name": display, "model": display, "modified_at": iso(mtime), "size": data["size"],
                "digest": data["digest"].removeprefix("sha256:"), "details": details, "_mtime": mtime, "_raw": data}

    def delete(self, name: Any) -> bool:
        """Remove a manifest; False if it did not exist."""
        try:
            (self.manifests / parse_name(name)[0]).unlink()
            return True
        except FileNotFoundError:
            return False

    def all(self) -> list[Json]:
        """Every model on disk, most recently modified first."""
        paths = [p for p in self.manifests.glob("*/*/*/*") if p.is_file() and not p.name.startswith(".")]
        found = [self.get("{}/{}/{}:{}".format(*p.parts[-4:])) for p in paths]
        return sorted((m for m in found if m), key=lambda m: -m["_mtime"])


def public(entry: Json) -> Json:
    """A store entry without its private (underscore) keys."""
    return {k: v for k, v in entry.items() if not k.startswith("_")}


class FakeOllamaServer(ThreadingHTTPServer):
    """Threading HTTP server holding the config, the model store and the loaded-model table."""

    daemon_threads = True

    def __init__(self, cfg: Config) -> None:
        self.address_family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
        super().__init__((cfg.host, cfg.port), Handler)
        self.cfg, self.store, self.lock = cfg, Store(cfg.models), threading.Lock()
        self.loaded: dict[str, tuple[float, Json]] = {}


ROUTES = {"GET /": "root", "GET /api/version": "version", "GET /api/tags": "tags", "GET /api/ps": "ps",
          "POST /api/show": "show", "POST /api/pull": "pull", "POST /api/push": "push", "POST /api/create": "create",
          "POST /api/copy": "copy", "DELETE /api/delete": "delete", "POST /api/delete": "delete",
          "POST /api/chat": "chat", "POST /api/generate": "generate", "POST /api/embed": "embed",
          "POST /api/embeddings": "embeddings", "GET /v1/models": "v1_models", "POST /v1/chat/completions": "v1_chat",
          "POST /v1/completions": "v1_completions", "POST /v1/embeddings": "v1_embeddings"}


class Handler(BaseHTTPRequestHandler):
    """Serves one HTTP/1.1 keep-alive connection; ``h_*`` methods implement the endpoints."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: FakeOllamaServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def send_response(self, code: int, message: str | None = None) -> None:
        """Status line, Date and X-Fake-Replica (no Python Server header, like Go's net/http)."""
        self.responded = True
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
        self.send_header("X-Fake-Replica", self.server.cfg.replica)

    # ---- plumbing ----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Route the request (HEAD is GET without a body); turn every failure into an HTTP error."""
        method = self.command
        self.path_only = self.path.split("?", 1)[0].rstrip("/") or "/"
        self.is_head, self.responded = method == "HEAD", False
        try:
            self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if method == "POST" and self.path_only == "/-/crash":
                os._exit(1)  # simulated engine crash: no response at all
            route = ROUTES.get(f"{'GET' if self.is_head else method} {self.path_only}")
            if route is None:
                return self._send(404, b"404 page not found", "text/plain")
            getattr(self, "h_" + route)()
        except Exception as exc:
            if self.responded:
                self.close_connection = True
            else:
                self._error(exc.status if isinstance(exc, ApiError) else 500, str(exc))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

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

    def _send(self, code: int, body: bytes, ctype: str = JSON_CT) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not self.is_head:
            self.wfile.write(body)

    def _json(self, obj: Any, code: int = 200) -> None:
        self._send(code, dump(obj))

    def _error(self, code: int, message: str) -> None:
        if self.path_only.startswith("/v1/"):  # the OpenAI-compat middleware wraps errors like this
            kind = {400: "invalid_request_error", 404: "not_found_error"}.get(code, "api_error")
            return self._json({"error": {"message": message, "type": kind, "param": None, "code": None}}, code)
        self._json({"error": message}, code)

    def _stream(self, ctype: str, chunks: Iterable[bytes]) -> None:
        """Chunked transfer encoding, writing and flushing each chunk as soon as it is produced."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for b in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(b), b))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # client went away
            self.close_connection = True

    def _ndjson(self, req: Json, items: Iterator[Json]) -> None:
        """NDJSON stream, or (stream: false) only the last object as plain JSON."""
        if req.get("stream") is False:
            *_, last = items
            return self._json(last)
        self._stream(NDJSON, (dump(x) + b"\n" for x in items))

    def _knob(self, header: str, default: float) -> float:
        try:
            return float(self.headers[header])
        except (TypeError, ValueError):
            return default

    def _model(self, req: Json) -> tuple[str, Json]:
        """Resolve the model of an inference request; 404 in Ollama's wording if not pulled."""
        raw = req.get("model") or req.get("name")
        entry = self.server.store.get(raw)
        if entry is None:
            raise ApiError(404, f'model "{raw}" not found, try pulling it first')
        return str(raw), entry

    def _existing(self, raw: Any) -> Json:
        entry = self.server.store.get(raw)
        if entry is None:
            raise ApiError(404, f"model '{raw}' not found")
        return entry

    def _plan(self, limit: Any) -> tuple[list[str], str, float]:
        """Sleep the service latency; return (tokens, done_reason, per-token delay in seconds)."""
        cfg, n, reason = self.server.cfg, int(self._knob("X-Fake-Tokens", self.server.cfg.tokens)), "stop"
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit < n:
            n, reason = limit, "length"
        time.sleep(self._knob("X-Fake-Latency-Ms", cfg.latency_ms) / 1000)
        return [WORDS[i % len(WORDS)] for i in range(n)], reason, self._knob("X-Fake-Token-Delay-Ms", cfg.token_delay_ms) / 1000

    def _load(self, entry: Json, keep_alive: Any = None) -> None:
        """Mark a model loaded until now + keep_alive; keep_alive 0 unloads it."""
        ka = keep_alive_seconds(keep_alive, self.server.cfg.keep_alive)
        with self.server.lock:
            if ka == 0:
                self.server.loaded.pop(entry["name"], None)
            else:
                self.server.loaded[entry["name"]] = (FOREVER if ka < 0 else time.time() + ka, entry)

    @staticmethod
    def _ticks(tokens: list[str], delay: float) -> Iterator[str]:
        for tok in tokens:
            time.sleep(delay)
            yield tok

    @staticmethod
    def _stats(t0: float, prompt_n: int, eval_n: int) -> Json:
        total = max(int((time.monotonic() - t0) * 1e9), 3_000_000)
        return {"total_duration": total, "load_duration": 1_000_000, "prompt_eval_count": prompt_n,
                "prompt_eval_duration": 1_000_000, "eval_count": eval_n, "eval_duration": total - 2_000_000}

    # ---- native API --------------------------------------------------------------------------
    def h_root(self) -> None:
        self._send(200, b"Ollama is running", "text/plain; charset=utf-8")

    def h_version(self) -> None:
        self._json({"version": VERSION})

    def h_tags(self) -> None:
        self._json({"models": [public(m) for m in self.server.store.all()]})

    def h_ps(self) -> None:
        with self.server.lock:
            for name in [n for n, (exp, _) in self.server.loaded.items() if exp <= time.time()]:
                del self.server.loaded[name]
            items = sorted(self.server.loaded.values(), key=lambda x: -x[0])
        self._json({"models": [{**{k: v for k, v in public(e).items() if k != "modified_at"}, "expires_at": iso(exp),
                                "size_vram": e["size"], "context_length": 4096} for exp, e in items]})

    def h_show(self) -> None:
        e = self._existing((req := self._req()).get("model") or req.get("name"))
        arch = e["details"]["family"]
        self._json({"license": "", "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {e['name']}\n",
                    "parameters": 'stop "<|eot_id|>"', "template": "{{ .Prompt }}", "details": e["details"],
                    "model_info": {"general.architecture": arch, f"{arch}.context_length": 4096,
                                   f"{arch}.embedding_length": 8}, "modified_at": e["modified_at"],
                    "capabilities": ["embedding"] if arch == "bert" else ["completion", "tools"]})

    def h_pull(self) -> None:
        name = (req := self._req()).get("model") or req.get("name")
        h, total = fake_model(parse_name(name)[1])

        def steps() -> Iterator[Json]:
            yield {"status": "pulling manifest"}
            for i in range(6):
                time.sleep(self.server.cfg.pull_delay_ms / 5000 if i else 0)
                yield {"status": f"pulling {h[:12]}", "digest": f"sha256:{h}", "total": total, "completed": total * i // 5}
            yield {"status": "verifying sha256 digest"}
            yield {"status": "writing manifest"}
            self.server.store.put(str(name))
            yield {"status": "success"}
        self._ndjson(req, steps())

    def h_push(self) -> None:
        e = self._existing((req := self._req()).get("model") or req.get("name"))
        d = {"digest": f"sha256:{e['digest']}", "total": e["size"], "completed": e["size"]}
        self._ndjson(req, iter([{"status": "retrieving manifest"}, {"status": f"pushing {e['digest'][:12]}", **d},
                                {"status": "pushing manifest"}, {"status": "success"}]))

    def h_create(self) -> None:
        name = (req := self._req()).get("model") or req.get("name")
        src = self._existing(req["from"]) if req.get("from") else None
        parse_name(name)

        def steps() -> Iterator[Json]:
            if src:
                yield {"status": f"using existing layer sha256:{src['digest']}"}
            yield {"status": "writing manifest"}
            self.server.store.put(str(name), src and {**src["_raw"], "digest": f"sha256:{uuid.uuid4().hex * 2}"})
            yield {"status": "success"}
        self._ndjson(req, steps())

    def h_copy(self) -> None:
        src = self._existing((req := self._req()).get("source"))
        self.server.store.put(str(req.get("destination") or ""), src["_raw"])
        self._send(200, b"")

    def h_delete(self) -> None:
        if not self.server.store.delete(raw := (req := self._req()).get("model") or req.get("name")):
            raise ApiError(404, f"model '{raw}' not found")
        self._send(200, b"")

    def _native(self, chat: bool) -> None:
        """Shared /api/chat ("message" objects) and /api/generate ("response" strings) logic."""
        raw, entry = self._model(req := self._req())

        def out(text: str, **extra: Any) -> Json:
            body = {"message": {"role": "assistant", "content": text, **extra}} if chat else {"response": text}
            return {"model": raw, "created_at": iso(), **body}
        if not (req.get("messages") if chat else req.get("prompt")):  # just load (or unload) the model
            self._load(entry, req.get("keep_alive"))
            unload = keep_alive_seconds(req.get("keep_alive"), 1) == 0
            return self._json({**out(""), "done": True, "done_reason": "unload" if unload else "load"})
        t0, prompt_n = time.monotonic(), count_words(req.get("messages") or req.get("prompt")) + 10
        tool = pick_tool(req.get("tools")) if chat else None
        toks, reason, delay = self._plan((req.get("options") or {}).get("num_predict"))
        self._load(entry)
        calls = {"tool_calls": [{"function": tool}]} if tool else {}
        ctx = {} if chat else {"context": list(range(1, prompt_n + len(toks) + 1))}

        def lines() -> Iterator[Json]:
            parts, streaming = [], req.get("stream") is not False
            for tok in self._ticks(toks, delay):
                parts.append(tok)
                if streaming and not tool:
                    yield {**out(tok), "done": False}
            if streaming and tool:
                yield {**out("", **calls), "done": False}
            text = "" if tool or streaming else "".join(parts)
            yield {**out(text, **({} if streaming else calls)), "done": True, "done_reason": reason, **ctx,
                   **self._stats(t0, prompt_n, len(toks))}
        self._ndjson(req, lines())
        self._load(entry, req.get("keep_alive"))

    h_chat, h_generate = partialmethod(_native, chat=True), partialmethod(_native, chat=False)

    def h_embed(self) -> None:
        raw, entry = self._model(req := self._req())
        inp = req.get("input")
        texts = [inp] if isinstance(inp, str) and inp else [str(x) for x in inp] if isinstance(inp, list) else []
        self._plan(None)
        self._load(entry, req.get("keep_alive"))
        self._json({"model": raw, "embeddings": [embed_vec(t, int(req.get("dimensions") or 8)) for t in texts],
                    "total_duration": 2_000_000, "load_duration": 1_000_000, "prompt_eval_count": count_words(texts)})

    def h_embeddings(self) -> None:
        _, entry = self._model(req := self._req())
        self._plan(None)
        self._load(entry, req.get("keep_alive"))
        self._json({"embedding": embed_vec(str(req["prompt"])) if req.get("prompt") else []})

    # ---- OpenAI-compatible API ---------------------------------------------------------------
    def h_v1_models(self) -> None:
        self._json({"object": "list", "data": [{"id": m["name"], "object": "model", "created": int(m["_mtime"]),
                                                "owned_by": "library"} for m in self.server.store.all()]})

    def _openai(self, chat: bool) -> None:
        """Shared /v1/chat/completions and /v1/completions logic (SSE when stream is true)."""
        raw, entry = self._model(req := self._req())
        prompt_n = count_words(req.get("messages") if chat else req.get("prompt")) + 10
        tool = pick_tool(req.get("tools"), req.get("tool_choice")) if chat else None
        toks, reason, delay = self._plan(req.get("max_completion_tokens", req.get("max_tokens")))
        self._load(entry)
        cid, created = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().int % 1000}", int(time.time())
        calls = [{"id": f"call_{uuid.uuid4().hex[:8]}", "index": 0, "type": "function",
                  "function": {"name": tool["name"], "arguments": dump(tool["arguments"]).decode()}}] if tool else []
        usage = {"prompt_tokens": prompt_n, "completion_tokens": len(toks), "total_tokens": prompt_n + len(toks)}
        finish = "tool_calls" if tool else reason

        def obj(choice: Json, chunk: bool) -> Json:
            kind = ("chat.completion.chunk" if chunk else "chat.completion") if chat else "text_completion"
            return {"id": cid, "object": kind, "created": created, "model": raw, "system_fingerprint": "fp_ollama",
                    "choices": [{"index": 0, **choice}]}
        if not req.get("stream"):
            text = "".join(self._ticks(toks, delay))
            msg = {"message": {"role": "assistant", "content": "" if tool else text, **({"tool_calls": calls} if tool else {})}}
            return self._json({**obj({**(msg if chat else {"text": text}), "finish_reason": finish}, False), "usage": usage})

        def events() -> Iterator[Json | str]:
            if chat:
                yield obj({"delta": {"role": "assistant", "content": ""}, "finish_reason": None}, True)
            for tok in self._ticks(toks, delay):
                if not tool:
                    yield obj({"delta": {"content": tok}, "finish_reason": None} if chat else
                              {"text": tok, "finish_reason": None}, True)
            if tool:
                yield obj({"delta": {"tool_calls": calls}, "finish_reason": None}, True)
            yield obj({"delta": {}, "finish_reason": finish} if chat else {"text": "", "finish_reason": finish}, True)
            if (req.get("stream_options") or {}).get("include_usage"):
                yield {**obj({}, True), "choices": [], "usage": usage}
            yield "[DONE]"
        self._stream(SSE, (b"data: %s\n\n" % (e.encode() if isinstance(e, str) else dump(e)) for e in events()))

    h_v1_chat, h_v1_completions = partialmethod(_openai, chat=True), partialmethod(_openai, chat=False)

    def h_v1_embeddings(self) -> None:
        raw, entry = self._model(req := self._req())
        inp = req.get("input")
        if not (texts := [inp] if isinstance(inp, str) else [str(x) for x in inp or []]):
            raise ApiError(400, "invalid input")
        self._plan(None)
        self._load(entry)
        vecs = [embed_vec(t, int(req.get("dimensions") or 8)) for t in texts]
        data = [{"object": "embedding", "index": i, "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode()
                 if req.get("encoding_format") == "base64" else v} for i, v in enumerate(vecs)]
        n = count_words(texts)
        self._json({"object": "list", "data": data, "model": raw, "usage": {"prompt_tokens": n, "total_tokens": n}})


def main() -> int:
    """Start the fake server from environment configuration; serve until SIGTERM or SIGINT."""
    cfg = Config.from_env()
    srv = FakeOllamaServer(cfg)
    for name in cfg.preload:
        if srv.store.get(name) is None:
            srv.store.put(name)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f'level=INFO source=fake_ollama.py msg="Listening on {cfg.host}:{cfg.port} (version {VERSION})" '
          f"replica={cfg.replica} models={cfg.models}", file=sys.stderr, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
