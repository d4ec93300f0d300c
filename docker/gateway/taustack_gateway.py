"""LiteLLM proxy hook: episode affinity for clients that send no X-Session-ID (tau2-bench sends none).

Every turn of an agent episode starts with the same messages (the system prompt and the first user turn), so
a hash of them and of the request's `seed` names the episode: tau2 gives each trial of a task its own seed, so the
trials of one task (same opening) are distinct sessions. The hook passes it on as X-Session-ID to the engine's
nginx, whose session router (or consistent hash) then sends every turn to the same replica, where the episode's
prompt prefix is cached. The id is `episode-<24 hex>`: never a shape a router merges (smg folds ids ending in
`_r<n>` or `_t<n>` into one key). A session id the client sent is kept as it is.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

HEADER = "X-Session-ID"


def client_session_id(data: dict[str, Any]) -> str | None:
    """The X-Session-ID the client sent to the gateway, if any (header names are case-insensitive)."""
    request = data.get("proxy_server_request") or {}
    for name, value in (request.get("headers") or {}).items():
        if name.lower() == HEADER.lower() and value:
            return str(value)
    return None


def episode_id(messages: list[dict[str, Any]], seed: Any = None) -> str | None:
    """A stable id from the opening of a conversation (the system prompt(s) and the first user turn) and the
    request's seed, when it has one."""
    opening = []
    for message in messages:
        opening.append({"role": message.get("role"), "content": message.get("content")})
        if message.get("role") == "user":
            break
    if not opening:
        return None
    key: Any = opening if seed is None else {"opening": opening, "seed": seed}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return f"episode-{digest[:24]}"


class EpisodeAffinity(CustomLogger):  # type: ignore[misc]
    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict[str, Any],
                                  call_type: Any) -> dict[str, Any]:
        session = client_session_id(data) or episode_id(data.get("messages") or [], data.get("seed"))
        if session:
            headers = dict(data.get("extra_headers") or {})
            headers[HEADER] = session
            data["extra_headers"] = headers
            data.setdefault("headers", {})[HEADER] = session
        return data


affinity = EpisodeAffinity()
