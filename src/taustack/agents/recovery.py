"""Transient endpoint errors retried with backoff; past the budget, or for any other error, the exception goes to
tau2 unchanged (recorded as an error there, never turned into a canned message).

Exceptions are classified by duck typing (a status_code / status attribute, or a response's, the class names,
the message), so litellm's and openai's exception classes work without importing either. Pure: stdlib only.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import TypeVar

from taustack.agents.config import RecoveryConfig
from taustack.agents.context import is_context_overflow

T = TypeVar("T")

# class names (anywhere in the MRO) of errors worth a retry: litellm's and openai's (Timeout, APITimeoutError,
# APIConnectionError, RateLimitError, ServiceUnavailableError, InternalServerError, BadGatewayError), httpx's
# (ConnectError, ReadTimeout, RemoteProtocolError), requests' and the builtins (ConnectionError, TimeoutError)
TRANSIENT_NAMES = ("Timeout", "APIConnectionError", "ConnectionError", "ConnectError", "RateLimitError",
                   "ServiceUnavailableError", "InternalServerError", "BadGatewayError", "RemoteProtocolError",
                   "ConnectionReset", "BrokenPipe")
# class names of errors a retry cannot fix, whatever they carry
PERMANENT_NAMES = ("BadRequestError", "AuthenticationError", "PermissionDeniedError", "NotFoundError",
                   "ContextWindowExceededError", "UnprocessableEntityError", "ContentPolicyViolationError",
                   "UnsupportedParamsError", "InvalidRequestError")
# what vLLM's tool-call parsers say when the model's own output could not be parsed: the same request would give
# the same output at temperature 0, so it needs a resample (or a re-prompt), not a retry
PARSER_FAILURES = ("error in extracting tool call", "tool call parser", "tool_call_parser", "tool parser",
                   "handle streaming tool call", "jsondecodeerror")
PARSER_WORDS = re.compile(r"pars(e|ing)\W+(\w+\W+){0,4}tool|tool\W+(\w+\W+){0,4}pars(e|ing)", re.IGNORECASE)
TRANSIENT_STATUSES = frozenset({408, 429})  # Request Timeout (litellm's Timeout carries 408), Too Many Requests
NOT_TRANSIENT_5XX = frozenset({501, 505})  # Not Implemented, HTTP Version Not Supported
MAX_CHAIN = 8


def _status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries: status_code or status (int or digits), or its response's."""
    for holder in (exc, getattr(exc, "response", None)):
        if holder is None:
            continue
        for name in ("status_code", "status"):
            value = getattr(holder, name, None)
            if isinstance(value, bool):
                continue
            if isinstance(value, int):
                return value
            if isinstance(value, str) and value.isdigit():
                return int(value)
    return None


def _message(exc: BaseException) -> str:
    parts = [str(exc), str(getattr(exc, "message", "") or ""), str(getattr(exc, "body", "") or "")]
    return " ".join(parts)


def _class_names(exc: BaseException) -> list[str]:
    return [cls.__name__ for cls in type(exc).__mro__]


def is_parser_failure(exc: BaseException) -> bool:
    """Whether an error is the engine failing to parse the model's tool call (vLLM's hermes parser's "Error in
    extracting tool call from response", Ollama's 500 "error parsing tool call", a JSONDecodeError): a 5xx that a
    retry of the same request would not fix. `eval run`'s failure classes use it too."""
    text = _message(exc).lower()
    return any(phrase in text for phrase in PARSER_FAILURES) or PARSER_WORDS.search(text) is not None


def _verdict(exc: BaseException) -> bool | None:
    """True or False where this exception alone decides, None where its causes should."""
    status = _status(exc)
    message = _message(exc)
    names = _class_names(exc)
    if is_context_overflow(status, message):
        return False
    if any(name in PERMANENT_NAMES for name in names):
        return False
    if status is not None:
        if 400 <= status < 500:
            return status in TRANSIENT_STATUSES
        if status >= 500:
            return status not in NOT_TRANSIENT_5XX and not is_parser_failure(exc)
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if any(marker in name for name in names for marker in TRANSIENT_NAMES):
        return not is_parser_failure(exc)
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether a retry of the same request may succeed: timeouts, connection errors and resets, HTTP 408, 429
    and 5xx (by status_code / status, or class names such as litellm's Timeout, APIConnectionError,
    RateLimitError, ServiceUnavailableError, InternalServerError; the builtins ConnectionError and TimeoutError),
    looking through __cause__ / __context__ when the exception itself says nothing (a context hidden with
    `raise ... from None` stays hidden, as in a traceback).

    Not transient: other 4xx (authentication, bad request, not found), a context overflow whatever its status
    (the request must shrink, see context.shrink_budget), 501 and 505, and a 5xx whose message is a tool-parser
    failure (vLLM's hermes parser: "Error in extracting tool call from response", "tool call parser",
    "JSONDecodeError"): the same request would produce the same unparsable output, so a resample or a re-prompt
    is needed, not a retry.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < MAX_CHAIN:
        seen.add(id(current))
        verdict = _verdict(current)
        if verdict is not None:
            return verdict
        current = current.__cause__ if current.__cause__ is not None else (
            None if current.__suppress_context__ else current.__context__)
    return False


def backoff_delays(config: RecoveryConfig, rng: random.Random | None = None) -> list[float]:
    """config.retries delays in seconds: backoff_s doubling each retry, capped at max_backoff_s, with equal jitter
    (half the step fixed, half drawn uniformly from rng): never under half the step, so a rate-limited endpoint
    still gets a real pause, and concurrent episodes still spread out. No rng: an unseeded random.Random."""
    draw = rng if rng is not None else random.Random()
    delays = []
    for attempt in range(config.retries):
        step = min(config.max_backoff_s, config.backoff_s * 2**attempt)
        delays.append(step / 2 + draw.uniform(0.0, step / 2))
    return delays


def call_with_retries(call: Callable[[], T], config: RecoveryConfig,
                      on_retry: Callable[[BaseException, int, float], None] | None = None,
                      sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> T:
    """call() with transient errors retried after backoff_delays; on_retry(error, retry number from 1, delay) is
    told before each pause. config.enabled False: one call. A non-transient error, or the last one once the
    retries are spent, is re-raised unchanged (the same object, for tau2 to record). Only Exception is caught:
    KeyboardInterrupt and SystemExit pass through."""
    if not config.enabled:
        return call()
    delays = backoff_delays(config, rng)
    retry = 0
    while True:
        error: Exception
        try:
            return call()
        except Exception as exc:
            if retry >= len(delays) or not is_transient(exc):
                raise
            error = exc
        delay = delays[retry]
        retry += 1
        if on_retry is not None:
            on_retry(error, retry, delay)
        sleep(delay)

