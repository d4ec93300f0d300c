"""The end of an episode, told to the balancer: `POST {origin}/finish_session?session_id=ID` (by `taustack eval
run` after each simulation, and by `taustack bench` after each replayed episode).

A balancer whose replicas sit behind the session router keeps each session's replica until told it is over (or
until it expires): a finished simulation's session no longer counts against its replica's load. Best effort: an
endpoint that has no such path (a gateway, one replica, an external provider) answers 403/404/405, or none
answers, and the closer stops asking; a run never fails for it.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request

FINISH_PATH = "/finish_session"
TIMEOUT_S = 2.0
NOT_THERE = frozenset({401, 403, 404, 405, 501})


def origin_of(base_url: str) -> str:
    """scheme://host:port of an OpenAI-style base URL (its /v1 dropped): where a taustack balancer answers."""
    parts = urllib.parse.urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


class SessionCloser:
    """Finishes sessions at one endpoint's balancer from any thread, until the endpoint shows it has no router."""

    def __init__(self, base_url: str, token: str | None = None, enabled: bool = True) -> None:
        self.url = origin_of(base_url) + FINISH_PATH
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.lock = threading.Lock()
        self.enabled = enabled and base_url.startswith(("http://", "https://"))
        self.finished = 0

    def finish(self, session_id: str) -> bool:
        """True when the balancer took the session's end; False when it did not (and then it is not asked again
        if it has no such endpoint or does not answer)."""
        with self.lock:
            if not self.enabled:
                return False
        query = urllib.parse.urlencode({"session_id": session_id})
        request = urllib.request.Request(f"{self.url}?{query}", data=b"", method="POST", headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read()
        except urllib.error.HTTPError as error:
            error.close()
            if error.code in NOT_THERE:
                self.disable()
            return False
        except (OSError, ValueError):  # refused, unreachable, timed out
            self.disable()
            return False
        with self.lock:
            self.finished += 1
        return True

    def disable(self) -> None:
        with self.lock:
            self.enabled = False
