"""Why a simulation raised: an infrastructure error (the endpoint), the model's own failure, or something else.

Infrastructure errors are connection errors, timeouts and 5xx answers that are not a parser failure: a tool call
the engine could not parse is the model's failure, though Ollama answers it with a 500; the body tells them apart.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass

from taustack.agents.recovery import is_parser_failure

INFRA_NAMES = frozenset({
    "APIConnectionError", "Timeout", "APITimeoutError", "ConnectError", "ConnectTimeout", "ReadTimeout",
    "ReadError", "RemoteProtocolError", "ServiceUnavailableError", "BadGatewayError", "InternalServerError",
    "RateLimitError", "AuthenticationError", "PermissionDeniedError", "NotFoundError", "ConnectionError",
    "TimeoutError", "ConnectionRefusedError",
})
MODEL_NAMES = frozenset({"ContextWindowExceededError", "JSONDecodeError", "InvalidModelMessage"})


@dataclass(frozen=True)
class Failure:
    kind: str  # infrastructure, model, other
    role: str  # agent, user, or unknown: whose call raised
    cause: str  # one line


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def kind_of(exc: BaseException) -> str:
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = status_of(exc)
    if isinstance(exc, json.JSONDecodeError) or names & MODEL_NAMES:
        return "model"
    if (names & INFRA_NAMES or (status is not None and (status >= 500 or status in (401, 403, 404, 429)))):
        return "model" if is_parser_failure(exc) else "infrastructure"
    return "other"


def role_of(exc: BaseException) -> str:
    """agent or user: whose code the exception came through (tau2/agent/ or tau2/user/), last one wins."""
    role = "unknown"
    for frame in traceback.extract_tb(exc.__traceback__):
        path = frame.filename.replace("\\", "/")
        if "/tau2/user/" in path:
            role = "user"
        elif "/tau2/agent/" in path or "/taustack/agents/" in path:
            role = "agent"
    return role


def classify(exc: BaseException, secrets: tuple[str, ...] = ()) -> Failure:
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[key]")
    return Failure(kind_of(exc), role_of(exc), f"{type(exc).__name__}: {text}")
