"""The vLLM group watcher, run for real as a head and a follower on this machine's loopback with a stand-in engine (a
sleeping process): the whole group goes down when any member's engine dies or a member leaves, and a stop on purpose
(SIGTERM, as `docker stop` sends) stops the engine and exits 0. Inside containers it is tested against real vLLM in
tests/docker/test_hosts_vllm.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from taustack.engines import vllm_group

WATCHER = Path(vllm_group.__file__)
ENGINE = [sys.executable, "-c", "import time; time.sleep(600)"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Member:
    def __init__(self, role: str, port: int, state: Path) -> None:
        state.mkdir(exist_ok=True)
        self.state = state
        self.log = (state / "log").open("w+")
        argv = [sys.executable, str(WATCHER), "--role", role, "--address", "127.0.0.1", "--head", "127.0.0.1",
                "--port", str(port), "--members", "2", "--state-dir", str(state), "--", *ENGINE]
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def engine_pid(self, timeout: float = 10) -> int:
        path = self.state / vllm_group.PID_FILE
        deadline = time.monotonic() + timeout
        while not path.exists():
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.05)
        return int(path.read_text())

    def wait(self, timeout: float = 20) -> int:
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a child that exited but was not reaped yet (the watcher reaps its own) counts as gone
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().split(") ")[1][0] != "Z"


@pytest.fixture()
def group(tmp_path: Path) -> Iterator[tuple[Member, Member]]:
    port = free_port()
    head = Member("head", port, tmp_path / "head")
    follower = Member("follower", port, tmp_path / "follower")
    try:
        yield head, follower
    finally:
        for member in (head, follower):
            if member.process.poll() is None:
                member.process.kill()
                member.process.wait()


def test_a_follower_joins_the_head_before_starting_its_engine(tmp_path: Path) -> None:
    port = free_port()
    follower = Member("follower", port, tmp_path / "follower")
    try:
        time.sleep(1.5)
        assert not (follower.state / vllm_group.PID_FILE).exists()  # no head yet: no engine
        head = Member("head", port, tmp_path / "head")
        follower.engine_pid()
        assert (follower.state / vllm_group.JOINED).exists()
        assert "follower 127.0.0.1 joined (1 of 1)" in wait_for(head, "joined")
    finally:
        for member in (follower, locals().get("head")):
            if isinstance(member, Member) and member.process.poll() is None:
                member.process.kill()


def wait_for(member: Member, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while text not in member.output():
        assert time.monotonic() < deadline, member.output()
        time.sleep(0.05)
    return member.output()


def test_a_follower_whose_engine_dies_takes_the_whole_group_down(group: tuple[Member, Member]) -> None:
    head, follower = group
    head_engine, follower_engine = head.engine_pid(), follower.engine_pid()
    wait_for(head, "joined")
    os.kill(follower_engine, signal.SIGKILL)
    assert follower.wait() == 1 and head.wait() == 1
    assert not alive(head_engine)
    assert "the engine exited (-9)" in follower.output()
    assert "follower 127.0.0.1 left the group" in head.output()


def test_a_head_whose_engine_dies_takes_the_followers_down(group: tuple[Member, Member]) -> None:
    head, follower = group
    head_engine, follower_engine = head.engine_pid(), follower.engine_pid()
    os.kill(head_engine, signal.SIGKILL)
    assert head.wait() == 1 and follower.wait() == 1
    assert not alive(follower_engine)
    assert "the head left the group" in follower.output()


def test_a_member_stopped_on_purpose_stops_its_engine_and_exits_0(group: tuple[Member, Member]) -> None:
    head, follower = group
    follower_engine = follower.engine_pid()
    wait_for(head, "joined")
    follower.process.send_signal(signal.SIGTERM)
    assert follower.wait() == 0
    assert not alive(follower_engine)
    assert head.wait() == 1  # the group cannot serve without it


def test_a_silent_head_is_left_after_the_timeout(group: tuple[Member, Member]) -> None:
    """A host that vanished without closing its connections (no reset): the follower hears no ping for TIMEOUT_S."""
    head, follower = group
    follower.engine_pid()
    wait_for(head, "joined")
    head.process.send_signal(signal.SIGSTOP)  # frozen: its sockets stay open, nothing is sent
    try:
        started = time.monotonic()
        assert follower.wait(timeout=vllm_group.TIMEOUT_S + 10) == 1
        assert vllm_group.TIMEOUT_S - 1 < time.monotonic() - started < vllm_group.TIMEOUT_S + 5
        assert "the head silent for" in follower.output()
    finally:
        head.process.send_signal(signal.SIGCONT)
