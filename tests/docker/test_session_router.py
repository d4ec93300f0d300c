"""The session router behind the real nginx, on the real Docker Engine (3 fake Ollama replicas): what happens to
agent episodes (one X-Session-ID each) when a replica is killed under load, when it comes back, and when the
router itself crashes.

The router passes no client headers on to Ollama's native paths, so the fakes' timings are set by environment
here, not by X-Fake-* headers: 100 ms before the first token, 100 ms per token, 8 tokens (a turn asks for one)."""

from __future__ import annotations

import collections
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.docker.conftest import NGINX_IMAGE, RunningStack, start_stack
from tests.docker.workers import Workers

pytestmark = pytest.mark.docker

REPLICA_HEADER = "x-taustack-replica"
CHAT = {"model": "qwen2.5:0.5b", "messages": [{"role": "user", "content": "hi"}], "stream": False,
        "options": {"num_predict": 1}}  # a turn: 200 ms
PORT = 22434


@pytest.fixture(scope="module")
def router_stack(tmp_path_factory: pytest.TempPathFactory, fake_ollama_image: str) -> Iterator[RunningStack]:
    spec = {
        "ollama": {
            "image": fake_ollama_image, "replicas": 3, "port": PORT, "models": ["qwen2.5:0.5b"],
            "env": {"extra": {"FAKE_LATENCY_MS": "100", "FAKE_TOKEN_DELAY_MS": "100", "FAKE_TOKENS": "8"}},
        },
        "balancer": {"image": NGINX_IMAGE, "affinity": "router"},
    }
    stack = start_stack(tmp_path_factory.mktemp("router-stack"), "router", spec, PORT, 3)
    try:
        yield stack
    finally:
        stack.cli("down", "--volumes", timeout=120)


@dataclass(frozen=True)
class Turn:
    session: str
    at: float  # when it was sent, time.monotonic()
    replica: str
    seconds: float


class Episodes(Workers):
    """Worker threads replaying episodes of `turns` non-streamed turns each, one X-Session-ID per episode (None:
    no header, least_conn traffic); each finished episode's session is ended at the balancer, as eval run does."""

    def __init__(self, stack: RunningStack, workers: int, turns: int, sessions: bool = True,
                 prefix: str = "ep") -> None:
        self.stack, self.turns, self.sessions, self.prefix = stack, turns, sessions, prefix
        self.log: list[Turn] = []
        self.errors: list[str] = []
        super().__init__([(self.work, index) for index in range(workers)], join_timeout=60)

    def work(self, index: int) -> None:
        with httpx.Client(timeout=60) as client:
            for number in range(10_000):
                session = f"{self.prefix}-{index}-{number}"
                headers = {"X-Session-ID": session} if self.sessions else {}
                for _ in range(self.turns):
                    if self.stop.is_set():
                        return
                    sent = time.monotonic()
                    try:
                        response = client.post(f"{self.stack.url}/api/chat", json=CHAT, headers=headers)
                    except httpx.HTTPError as exc:
                        self.errors.append(f"{session}: {exc!r}")
                        continue
                    if response.status_code != 200:
                        self.errors.append(f"{session}: {response.status_code} {response.text[:200]}")
                        continue
                    self.log.append(Turn(session, sent, response.headers[REPLICA_HEADER],
                                         time.monotonic() - sent))
                if self.sessions:
                    client.post(f"{self.stack.url}/finish_session", params={"session_id": session})

    def by_session(self) -> dict[str, list[Turn]]:
        sessions: dict[str, list[Turn]] = collections.defaultdict(list)
        for turn in sorted(self.log, key=lambda t: t.at):
            sessions[turn.session].append(turn)
        return sessions


def container_pid(stack: RunningStack, service: str) -> int:
    container = stack.compose("ps", "-q", service).stdout.strip()
    result = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", container], capture_output=True,
                            text=True, check=True)
    return int(result.stdout)


def restarts(stack: RunningStack, service: str) -> int:
    container = stack.compose("ps", "-q", service).stdout.strip()
    result = subprocess.run(["docker", "inspect", "-f", "{{.RestartCount}}", container], capture_output=True,
                            text=True, check=True)
    return int(result.stdout)


def wait_until(condition: Callable[[], bool], seconds: float) -> float | None:
    """Seconds until the condition held, or None after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_sessions_spread_evenly_and_each_stays_on_its_replica(router_stack: RunningStack) -> None:
    with Episodes(router_stack, workers=6, turns=8) as episodes:
        time.sleep(4)
    sessions = episodes.by_session()
    replicas = {session: {turn.replica for turn in turns} for session, turns in sessions.items()}
    concurrent_first = collections.Counter(sessions[f"ep-{index}-0"][0].replica for index in range(6))
    print(f"\n[measure] router: {len(sessions)} sessions, {len(episodes.log)} turns; the first 6 concurrent "
          f"sessions per replica {dict(sorted(concurrent_first.items()))}")
    assert episodes.errors == []
    assert all(len(seen) == 1 for seen in replicas.values()), replicas
    assert sorted(concurrent_first.values()) == [2, 2, 2]  # sticky_least_loaded: the fewest active sessions


@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_session_streams_arrive_unbuffered_through_the_router(router_stack: RunningStack, path: str) -> None:
    headers = {"X-Session-ID": f"stream-{path}"}
    arrivals: list[float] = []
    started = time.perf_counter()
    with httpx.Client(timeout=30) as client, client.stream("POST", router_stack.url + path,
                                                           json={**CHAT, "stream": True, "options": {}},
                                                           headers=headers) as response:
        assert response.status_code == 200 and response.headers[REPLICA_HEADER].startswith("ollama-")
        for line in response.iter_lines():
            if line.strip():
                arrivals.append(time.perf_counter() - started)
    assert len(arrivals) >= 8
    # 8 tokens 100 ms apart: buffered, everything would land together at the end
    assert arrivals[0] < 0.6 and arrivals[-1] - arrivals[0] > 0.5, arrivals


def test_a_killed_replica_costs_no_turn_its_sessions_move_and_it_gets_new_ones_when_back(
    router_stack: RunningStack,
) -> None:
    short = Episodes(router_stack, workers=3, turns=5, prefix="short")  # new sessions all along
    with short, Episodes(router_stack, workers=9, turns=60) as episodes:  # 12 s episodes
        time.sleep(1.5)
        killed = time.monotonic()
        router_stack.compose("kill", "ollama-1")  # SIGKILL, in flight included; stays down until started
        time.sleep(10)
        router_stack.compose("start", "ollama-1")
        back_after = wait_until(lambda: answers(f"{router_stack.replica_url(1)}/api/version"), 30)
        assert back_after is not None
        back = time.monotonic()
        # its old sessions stay where they moved: what reaches it now is a new session
        new_session_after = wait_until(lambda: any(turn.replica == "ollama-1" and turn.at > back
                                                   for turn in list(episodes.log) + list(short.log)), 20)
    # the sessions that started on the killed replica, and where their turns went once the router had seen it fail
    on_killed = {session: turns for session, turns in episodes.by_session().items()
                 if turns[0].at < killed and turns[0].replica == "ollama-1"}
    settled = killed + 6  # the router's health check: 2 failures 2 s apart (+ a 1 s connect timeout)
    moved = {session: {t.replica for t in turns if settled < t.at < back} for session, turns in on_killed.items()}
    outage = [t.seconds for t in episodes.log + short.log if killed < t.at < back]
    print(f"\n[measure] replica killed under 12 concurrent episodes: {len(episodes.log) + len(short.log)} turns, "
          f"{len(episodes.errors) + len(short.errors)} errors; {len(on_killed)} sessions were on it, "
          f"{settled - killed:.0f} s later on {moved}; {len(outage)} turns during the outage, slowest "
          f"{max(outage):.2f} s; the replica answered {back_after:.1f} s after its start and had a new session "
          f"{new_session_after} s later")
    assert short.errors == []
    assert episodes.errors == []
    assert on_killed and all(moved.values()), "a session of the killed replica ended before the health check"
    assert all(len(seen) == 1 and "ollama-1" not in seen for seen in moved.values()), moved
    assert new_session_after is not None and new_session_after < 15


def test_a_crashed_router_is_restarted_and_plain_traffic_does_not_notice(router_stack: RunningStack) -> None:
    before = restarts(router_stack, "ollama-router")
    plain = Episodes(router_stack, workers=4, turns=10, sessions=False, prefix="plain")
    with plain, Episodes(router_stack, workers=4, turns=10) as episodes:
        time.sleep(1.5)
        subprocess.run(["kill", "-9", str(container_pid(router_stack, "ollama-router"))], check=True)
        crashed = time.monotonic()
        restarted_after = wait_until(lambda: restarts(router_stack, "ollama-router") > before, 30)
        healthy_after = wait_until(lambda: "healthy" in router_stack.compose(
            "ps", "--format", "{{.Health}}", "ollama-router").stdout, 60)
        time.sleep(4)
    slowest_plain = max(turn.seconds for turn in plain.log if turn.at > crashed)
    after = {session: {t.replica for t in turns} for session, turns in episodes.by_session().items()
             if turns[0].at > crashed + (healthy_after or 0) + 2}
    print(f"\n[measure] router crash under load: plain {len(plain.log)} turns, {len(plain.errors)} errors, slowest "
          f"after the crash {slowest_plain:.2f} s; sessions {len(episodes.log)} turns, {len(episodes.errors)} "
          f"errors; restarted after {restarted_after} s, healthy {healthy_after} s later; "
          f"{len(after)} sessions started since, each on one replica")
    assert plain.errors == [] and episodes.errors == []
    assert slowest_plain < 1.0  # 200 ms turns: no request waited on the dead router
    assert restarted_after is not None and healthy_after is not None
    assert after and all(len(seen) == 1 for seen in after.values()), after
