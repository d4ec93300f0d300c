"""HTTP/1.1 plumbing of the fake vLLM: uvicorn's headers and request-body errors on the shared handler
(tests/fakes/common/fake_common.py). Stdlib only; the routes live in fake_vllm.py.
"""
from __future__ import annotations

import json

from fake_common import FakeHandler
from fake_vllm_answers import ApiError, Json

JSON_CT, SSE = "application/json", "text/event-stream; charset=utf-8"


class HttpHandler(FakeHandler):
    """Keep-alive HTTP/1.1 handler base of the fake vLLM: Server: uvicorn, UTF-8 JSON, untyped empty answers."""

    server_header = "uvicorn"
    typed_empty = False
    ascii_json = False
    json_type = JSON_CT
    do_OPTIONS = FakeHandler._dispatch

    def _req(self) -> Json:
        try:
            req = json.loads(self.body or b"null")
        except ValueError as exc:
            raise ApiError(400, f"JSON decode error: {exc}") from None
        if not isinstance(req, dict):
            raise ApiError(400, "Input should be a valid dictionary or object to extract fields from")
        return req
