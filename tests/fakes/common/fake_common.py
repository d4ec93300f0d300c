"""What the fake engines (tests/fakes/ollama, tests/fakes/vllm) share: the keep-alive HTTP/1.1 handler (bodies,
JSON answers, chunked streaming, fault knobs, the simulated crash), serving until a signal, and the deterministic
tool-call arguments and embeddings. Stdlib only; each image copies this file beside its own modules.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from collections.abc import Generator, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Json = dict[str, Any]


class ApiError(Exception):
    """An error answered as a JSON body with HTTP status ``status`` (each fake words the body its engine's way)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def dump(obj: Any, ensure_ascii: bool = True) -> bytes:
    """Compact JSON (Go's encoding/json; with ``ensure_ascii=False``, Starlette's JSONResponse)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=ensure_ascii).encode()


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


def embed_vec(text: str, dims: int = 8) -> list[float]:
    """Deterministic L2-normalised embedding derived from SHA-256 hashes of the text."""
    raw = b"".join(hashlib.sha256(f"{i}:{text}".encode()).digest() for i in range(dims // 32 + 1))
    v = [b / 127.5 - 1.0 for b in raw[:dims]]
    norm = sum(x * x for x in v) ** 0.5 or 1.0
    return [round(x / norm, 6) for x in v]


class FakeHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler base: subclasses route (``route``) and word failures (``fail``); the server
    carries ``replica`` (the X-Fake-Replica header)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_header: str | None = None  # the Server header the real engine sends (None: none, like Go's net/http)
    typed_empty = True  # Content-Type on an empty 200 answer too
    ascii_json = True
    json_type = "application/json"
    responded = False
    body = b""
    path_only = "/"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def send_response(self, code: int, message: str | None = None) -> None:
        """Status line, Date, Server (when the engine sends one) and X-Fake-Replica."""
        self.responded = True
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
        if self.server_header:
            self.send_header("Server", self.server_header)
        self.send_header("X-Fake-Replica", getattr(self.server, "replica", ""))

    def route(self) -> None:
        raise NotImplementedError

    def fail(self, exc: Exception) -> None:
        raise NotImplementedError

    def _dispatch(self) -> None:
        """Read the body, crash on POST /-/crash, route; a failure before the answer started becomes ``fail``."""
        self.path_only = self.path.split("?", 1)[0].rstrip("/") or "/"
        self.responded = False
        try:
            self.body = self._read_body()
            if self.command == "POST" and self.path_only == "/-/crash":
                os._exit(1)  # simulated engine crash: no response at all
            self.route()
        except Exception as exc:
            if self.responded:
                self.close_connection = True
            else:
                self.fail(exc)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline().strip():  # trailers
            pass
        return b"".join(parts)

    def _send(self, code: int, body: bytes, ctype: str | None = None) -> None:
        self.send_response(code)
        if body or code != 200 or self.typed_empty:
            self.send_header("Content-Type", ctype or self.json_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, code: int = 200) -> None:
        self._send(code, dump(obj, self.ascii_json))

    def _stream(self, ctype: str, chunks: Iterable[bytes], *closing: Generator[Any, None, None]) -> None:
        """Chunked transfer encoding, flushing each chunk; ``closing`` generators are closed even if the client
        left."""
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
        except OSError:  # client went away: the request counts as aborted
            self.close_connection = True
        finally:
            for generator in closing:
                generator.close()

    def _knob(self, header: str, default: float) -> float:
        try:
            return float(self.headers[header])
        except (TypeError, ValueError):
            return default


def serve(srv: ThreadingHTTPServer) -> int:
    """Serve until SIGTERM or SIGINT, then close the socket; the exit status (0)."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0
