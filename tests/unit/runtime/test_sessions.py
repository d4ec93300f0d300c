"""SessionCloser against a real local HTTP server: it posts each finished session with the endpoint's token, and
stops asking an endpoint that has no /finish_session or does not answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taustack.runtime.sessions import SessionCloser, origin_of


class Recorder(ThreadingHTTPServer):
    status = 200
    seen: list[tuple[str, str, str | None]]


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(("POST", self.path, self.headers.get("Authorization")))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Recorder]:
    httpd = Recorder(("127.0.0.1", 0), Handler)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url_of(server: Recorder) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def test_origin_drops_the_openai_path() -> None:
    assert origin_of("http://127.0.0.1:11434/v1") == "http://127.0.0.1:11434"
    assert origin_of("https://host.example/api/v1") == "https://host.example"


def test_each_finished_session_is_posted_with_the_bearer_token(server: Recorder) -> None:
    closer = SessionCloser(url_of(server), "s3cret")
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(closer.finish, [f"sim-{i}" for i in range(8)]))
    assert closer.finished == 8
    assert sorted(path for _, path, _ in server.seen) == sorted(f"/finish_session?session_id=sim-{i}"
                                                                 for i in range(8))
    assert {auth for _, _, auth in server.seen} == {"Bearer s3cret"}


@pytest.mark.parametrize("status", [404, 405, 403])
def test_an_endpoint_without_the_path_is_asked_once(server: Recorder, status: int) -> None:
    server.status = status
    closer = SessionCloser(url_of(server))
    assert not closer.finish("a") and not closer.finish("b")
    assert [path for _, path, _ in server.seen] == ["/finish_session?session_id=a"]
    assert server.seen[0][2] is None


def test_a_failing_router_is_asked_again(server: Recorder) -> None:
    server.status = 502
    closer = SessionCloser(url_of(server))
    assert not closer.finish("a")
    server.status = 200
    assert closer.finish("b") and len(server.seen) == 2


def test_an_endpoint_that_does_not_answer_is_given_up() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closer = SessionCloser(f"http://127.0.0.1:{port}/v1")
    assert not closer.finish("a") and not closer.enabled


def test_a_disabled_closer_sends_nothing(server: Recorder) -> None:
    assert not SessionCloser(url_of(server), enabled=False).finish("a")
    assert server.seen == []
