"""tests.helpers.start_server: a fake that never starts fails the test at once, with what it printed."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import start_server, stop_server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_server_that_exits_at_once_fails_within_a_second_with_its_log() -> None:
    argv = [sys.executable, "-c", "import sys; print('fake: port 1 is taken'); sys.exit(3)"]
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failure:
        start_server(argv, f"http://127.0.0.1:{free_port()}/", timeout_s=60)
    assert time.monotonic() - started < 1.5
    assert "exited 3" in str(failure.value) and "fake: port 1 is taken" in str(failure.value)


def test_a_silent_server_fails_at_its_timeout_and_is_stopped(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import time; print('still booting', flush=True); time.sleep(60)"]
    with pytest.raises(pytest.fail.Exception, match=r"did not answer .* within 0\.5s(.|\n)*still booting"):
        start_server(argv, f"http://127.0.0.1:{free_port()}/", timeout_s=0.5, log=tmp_path / "server.log")
    assert "still booting" in (tmp_path / "server.log").read_text()


def test_a_server_that_answers_is_returned_running() -> None:
    port = free_port()
    server = start_server([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                          f"http://127.0.0.1:{port}/", timeout_s=10)
    try:
        assert server.poll() is None
    finally:
        stop_server(server)
    assert server.poll() is not None
