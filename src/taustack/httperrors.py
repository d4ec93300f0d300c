"""The one classifier of failed HTTP requests (httpx): a kind for counting (bench) and words for people (probes)."""

from __future__ import annotations

import httpx


def status_kind(status_code: int) -> str:
    """`http_4xx` or `http_5xx`: how the bench counts an error answer."""
    return "http_4xx" if status_code < 500 else "http_5xx"


def http_error_kind(exc: Exception) -> str:
    """connect, timeout, protocol, http_4xx/http_5xx, bad_response (a body that is not what was asked), or the
    exception's class name."""
    if isinstance(exc, httpx.ConnectError):
        return "connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol"
    if isinstance(exc, httpx.HTTPStatusError):
        return status_kind(exc.response.status_code)
    if isinstance(exc, ValueError):
        return "bad_response"
    return type(exc).__name__


def describe_http_error(exc: Exception) -> str:
    """A short reason for a failed probe: refused, timed out, or the status it answered."""
    kind = http_error_kind(exc)
    if kind == "connect":
        return "connection refused"
    if kind == "timeout":
        return "timed out"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"answered {exc.response.status_code}"
    return type(exc).__name__
