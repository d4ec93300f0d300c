"""One classifier of failed requests: the bench's kinds and the probes' words come from the same checks."""

from __future__ import annotations

import httpx
import pytest

from taustack.httperrors import describe_http_error, http_error_kind

REQUEST = httpx.Request("GET", "http://127.0.0.1:9/")


@pytest.mark.parametrize(("exc", "kind", "words"), [
    (httpx.ConnectError("refused", request=REQUEST), "connect", "connection refused"),
    (httpx.ReadTimeout("slow", request=REQUEST), "timeout", "timed out"),
    (httpx.RemoteProtocolError("cut", request=REQUEST), "protocol", "RemoteProtocolError"),
    (httpx.HTTPStatusError("no", request=REQUEST, response=httpx.Response(503, request=REQUEST)), "http_5xx",
     "answered 503"),
    (ValueError("not json"), "bad_response", "ValueError"),
])
def test_kinds_and_words(exc: Exception, kind: str, words: str) -> None:
    assert http_error_kind(exc) == kind and describe_http_error(exc) == words
