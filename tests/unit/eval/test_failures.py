"""Infrastructure errors against the model's own failures (Ollama answers 500 for a tool call it cannot parse)."""

from __future__ import annotations

import json

import pytest

from taustack.eval.failures import classify


class APIConnectionError(Exception):
    pass


class InternalServerError(Exception):
    status_code = 500


class Timeout(Exception):
    pass


class BadRequestError(Exception):
    status_code = 400


@pytest.mark.parametrize(("exc", "kind"), [
    (APIConnectionError("Connection refused"), "infrastructure"),
    (Timeout("Request timed out after 600 s"), "infrastructure"),
    (InternalServerError("OllamaException - upstream connect error"), "infrastructure"),
    (InternalServerError('{"error":"error parsing tool call: raw=\'{\\"name\\": get\'"}'), "model"),
    (InternalServerError("Failed to parse the tool call arguments"), "model"),
    (json.JSONDecodeError("Expecting value", "{", 1), "model"),
    (BadRequestError("max_tokens must be at least 1"), "other"),
    (ValueError("something else"), "other"),
])
def test_kinds(exc: Exception, kind: str) -> None:
    assert classify(exc).kind == kind


def test_causes_are_one_line_and_never_hold_a_key() -> None:
    failure = classify(APIConnectionError("refused\nwith key sk-secret-123 in\n the message"), ("sk-secret-123",))
    assert failure.cause == "APIConnectionError: refused with key [key] in the message"
    assert failure.role == "unknown"
