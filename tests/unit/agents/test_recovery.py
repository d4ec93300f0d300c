"""Transient endpoint errors (taustack.agents.recovery): exception classes named and shaped like litellm's, openai's
and httpx's (status_code, status, response.status_code, causes), vLLM's tool-parser failures, the backoff and the
retry loop with a fake sleep (nothing really sleeps)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from taustack.agents.config import RecoveryConfig
from taustack.agents.recovery import backoff_delays, call_with_retries, is_parser_failure, is_transient


class FakeLiteLLMError(Exception):
    """litellm's shape: a message attribute and a status_code set by each subclass."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(f"litellm.{type(self).__name__}: {message}")
        self.message = message


class Timeout(FakeLiteLLMError):
    status_code = 408


class APIConnectionError(FakeLiteLLMError):
    status_code = 500


class RateLimitError(FakeLiteLLMError):
    status_code = 429


class ServiceUnavailableError(FakeLiteLLMError):
    status_code = 503


class InternalServerError(FakeLiteLLMError):
    status_code = 500


class BadRequestError(FakeLiteLLMError):
    status_code = 400


class AuthenticationError(FakeLiteLLMError):
    status_code = 401


class NotFoundError(FakeLiteLLMError):
    status_code = 404


class ContextWindowExceededError(BadRequestError):
    pass


class APITimeoutError(Exception):
    """openai's: no status at all."""


class APIStatusError(Exception):
    """openai's: the status on its response."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.response = SimpleNamespace(status_code=status)


class ReadTimeout(Exception):
    """httpx's: a name, nothing else."""


class ClientResponseError(Exception):
    """aiohttp's: `status`."""

    def __init__(self, status: int) -> None:
        super().__init__(f"{status}, message='Bad Gateway'")
        self.status = status


PARSER_500 = ("OpenAIException - Error in extracting tool call from response. json.decoder.JSONDecodeError: "
              "Extra data: line 3 column 1 (char 527)")
VLLM_OVERFLOW = ("This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
                 "(4000 in the messages, 1000 in the completion).")


def caused_by(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize("error", [
    Timeout("Request timed out"), APIConnectionError("Connection error."), RateLimitError("Rate limit reached"),
    ServiceUnavailableError("Service Unavailable"), InternalServerError("Internal Server Error"),
    APITimeoutError("Request timed out."), APIStatusError("Bad Gateway", 502), APIStatusError("timeout", 504),
    ReadTimeout("timed out"), ClientResponseError(502), ConnectionResetError(104, "Connection reset by peer"),
    ConnectionRefusedError(111, "Connection refused"), TimeoutError("timed out"),
    caused_by(RuntimeError("completion failed"), ConnectionResetError(104, "Connection reset by peer")),
], ids=lambda error: type(error).__name__)
def test_transient_errors(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    BadRequestError("invalid tool_choice"), AuthenticationError("Incorrect API key provided"),
    NotFoundError("The model `qwen3-8b` does not exist."), ContextWindowExceededError(VLLM_OVERFLOW),
    InternalServerError(PARSER_500), APIConnectionError("tool call parser failed: JSONDecodeError"),
    APIStatusError("Error in extracting tool call from response.", 500), InternalServerError(VLLM_OVERFLOW),
    APIStatusError("Not Implemented", 501), APIStatusError("Unprocessable Entity", 422),
    ValueError("bad arguments"), KeyError("choices"),
    caused_by(RuntimeError("completion failed"), AuthenticationError("Incorrect API key provided")),
], ids=lambda error: f"{type(error).__name__}:{str(error)[:30]}")
def test_errors_a_retry_cannot_fix(error: Exception) -> None:
    assert not is_transient(error)


def test_an_errors_own_status_decides_before_its_cause() -> None:
    assert not is_transient(caused_by(BadRequestError("invalid request"), TimeoutError("timed out")))


def test_a_cause_found_through_context_counts() -> None:
    try:
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError:
            raise RuntimeError("stream broke") from None
    except RuntimeError as error:
        assert error.__context__ is not None
        assert not is_transient(error)  # `from None` suppresses the context: tau2 would see the RuntimeError only
    wrapped = RuntimeError("stream broke")
    wrapped.__context__ = ConnectionResetError(104, "Connection reset by peer")
    assert is_transient(wrapped)


def test_a_cycle_of_causes_ends() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first
    assert not is_transient(first)


def test_parser_failures_are_recognised() -> None:
    assert is_parser_failure(InternalServerError(PARSER_500))
    assert not is_parser_failure(InternalServerError("Internal Server Error"))


# -- backoff ----------------------------------------------------------------------------------------------------


def test_backoff_doubles_to_the_cap_with_equal_jitter() -> None:
    config = RecoveryConfig(retries=6, backoff_s=1.0, max_backoff_s=8.0)
    delays = backoff_delays(config, random.Random(3))
    steps = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert len(delays) == 6
    assert all(step / 2 <= delay <= step for delay, step in zip(delays, steps, strict=True))
    assert delays == backoff_delays(config, random.Random(3))
    assert delays != backoff_delays(config, random.Random(4))


def test_no_retries_no_delays_and_zero_backoff_is_immediate() -> None:
    assert backoff_delays(RecoveryConfig(retries=0)) == []
    assert backoff_delays(RecoveryConfig(retries=3, backoff_s=0.0), random.Random(1)) == [0.0, 0.0, 0.0]


# -- the retry loop ---------------------------------------------------------------------------------------------


class FlakyEndpoint:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.attempts = 0

    def __call__(self) -> str:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return "completion"


def test_an_answer_at_once_is_returned_without_sleeping() -> None:
    sleeps: list[float] = []
    endpoint = FlakyEndpoint()
    assert call_with_retries(endpoint, RecoveryConfig(), sleep=sleeps.append) == "completion"
    assert (endpoint.attempts, sleeps) == (1, [])


def test_transient_errors_are_retried_after_the_backoff() -> None:
    config = RecoveryConfig(retries=4, backoff_s=1.0, max_backoff_s=30.0)
    first, second = ServiceUnavailableError("Service Unavailable"), ConnectionResetError(104, "reset")
    endpoint = FlakyEndpoint(first, second)
    sleeps: list[float] = []
    retries: list[tuple[BaseException, int, float]] = []
    answer = call_with_retries(endpoint, config, on_retry=lambda e, n, d: retries.append((e, n, d)),
                               sleep=sleeps.append, rng=random.Random(5))
    expected = backoff_delays(config, random.Random(5))[:2]
    assert (answer, endpoint.attempts, sleeps) == ("completion", 3, expected)
    assert retries == [(first, 1, expected[0]), (second, 2, expected[1])]


def test_a_spent_budget_re_raises_the_last_error_unchanged() -> None:
    errors = [RateLimitError(f"Rate limit reached ({n})") for n in range(4)]
    endpoint = FlakyEndpoint(*errors)
    sleeps: list[float] = []
    with pytest.raises(RateLimitError) as raised:
        call_with_retries(endpoint, RecoveryConfig(retries=3), sleep=sleeps.append)
    assert raised.value is errors[3]
    assert raised.value.__context__ is None and raised.value.__cause__ is None
    assert (endpoint.attempts, len(sleeps)) == (4, 3)


def test_a_non_transient_error_is_raised_at_once() -> None:
    error = AuthenticationError("Incorrect API key provided")
    endpoint = FlakyEndpoint(error)
    sleeps: list[float] = []
    with pytest.raises(AuthenticationError) as raised:
        call_with_retries(endpoint, RecoveryConfig(), sleep=sleeps.append)
    assert raised.value is error
    assert (endpoint.attempts, sleeps) == (1, [])


def test_a_parser_failure_is_not_retried() -> None:
    endpoint = FlakyEndpoint(InternalServerError(PARSER_500))
    with pytest.raises(InternalServerError):
        call_with_retries(endpoint, RecoveryConfig(), sleep=lambda _: None)
    assert endpoint.attempts == 1


def test_disabled_recovery_calls_once() -> None:
    endpoint = FlakyEndpoint(Timeout("Request timed out"))
    with pytest.raises(Timeout):
        call_with_retries(endpoint, RecoveryConfig(enabled=False), sleep=lambda _: None)
    assert endpoint.attempts == 1


def test_zero_retries_calls_once() -> None:
    endpoint = FlakyEndpoint(Timeout("Request timed out"))
    with pytest.raises(Timeout):
        call_with_retries(endpoint, RecoveryConfig(retries=0), sleep=lambda _: None)
    assert endpoint.attempts == 1


def test_keyboard_interrupt_is_never_retried() -> None:
    def interrupted() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        call_with_retries(interrupted, RecoveryConfig(), sleep=lambda _: pytest.fail("slept"))
