"""HTTP/1.1 plumbing of the fake vLLM: uvicorn-like headers, request bodies, JSON answers, chunked streaming.

Stdlib only; the routes live in fake_vllm.py.
"""
from __future__ import annotations

import json
from collections.abc import Generator
from http.server import BaseHTTPRequestHandler
from typing import Any

import fake_vllm_answers as answers
from fake_vllm_answers import ApiError, Json

JSON_CT, SSE = "application/json", "text/event-stream; charset=utf-8"


class HttpHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler base: the helpers every endpoint uses (the server may carry ``replica``)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    responded = False
    body = b""

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def send_response(self, code: int, message: str | None = None) -> None:
        """Status line, Date, Server: uvicorn and X-Fake-Replica."""
        self.responded = True
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
        self.send_header("Server", "uvicorn")
        self.send_header("X-Fake-Replica", getattr(self.server, "replica", ""))

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

    def _req(self) -> Json:
        try:
            req = json.loads(self.body or b"null")
        except ValueError as exc:
            raise ApiError(400, f"JSON decode error: {exc}") from None
        if not isinstance(req, dict):
            raise ApiError(400, "Input should be a valid dictionary or object to extract fields from")
        return req

    def _send(self, code: int, body: bytes, ctype: str = JSON_CT) -> None:
        self.send_response(code)
        if body or code != 200:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, code: int = 200) -> None:
        self._send(code, answers.dump(obj))

    def _stream(self, ctype: str, chunks: Generator[bytes, None, None], toks: Generator[str, None, None]) -> None:
        """Chunked transfer encoding, flushing each chunk; the generators are closed even if the client left."""
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
            chunks.close()
            toks.close()

    def _knob(self, header: str, default: float) -> float:
        try:
            return float(self.headers[header])
        except (TypeError, ValueError):
            return default
