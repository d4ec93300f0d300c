"""The controller reaches each published port at an address that answers for its bind: loopback for 0.0.0.0 and ::,
the address itself for one specific address (a port published there answers nowhere else)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taustack.runtime.gateway import gateway_url, probe_gateway
from taustack.runtime.health import balancer_statuses
from taustack.runtime.status import gateway_row
from taustack.stackfile.base import dial_address, published_url
from taustack.stackfile.gateway import GatewaySpec
from tests.unit.runtime.probe_data import group

# a loopback address other than 127.0.0.1 (Linux answers all of 127/8): a server bound there is not on 127.0.0.1,
# as a port published on one LAN address is not
SPECIFIC = "127.0.0.2"


@pytest.mark.parametrize(
    ("bind", "address", "url"),
    [
        ("0.0.0.0", "127.0.0.1", "http://127.0.0.1:8000"),
        ("::", "::1", "http://[::1]:8000"),
        ("127.0.0.1", "127.0.0.1", "http://127.0.0.1:8000"),
        ("192.168.1.10", "192.168.1.10", "http://192.168.1.10:8000"),
        ("fd00::2", "fd00::2", "http://[fd00::2]:8000"),
        ("fd00:0::2", "fd00::2", "http://[fd00::2]:8000"),
    ],
)
def test_a_bind_maps_to_the_address_to_dial(bind: str, address: str, url: str) -> None:
    assert dial_address(bind) == address
    assert published_url(bind, 8000) == url


def test_balancer_and_gateway_urls_follow_their_binds() -> None:
    assert replace(group(port=8000), bind="192.168.1.10").balancer_url == "http://192.168.1.10:8000"
    assert replace(group(port=8000), bind="0.0.0.0").balancer_url == "http://127.0.0.1:8000"
    gateway = GatewaySpec.model_validate({"bind": "192.168.1.10", "models": [{"name": "m", "engine": "vllm",
                                                                              "model": "m"}]})
    assert gateway_url(gateway) == "http://192.168.1.10:4000"
    assert gateway_row(gateway, "ready", {}).version == "http://192.168.1.10:4000/v1"


class Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def specific_port() -> Iterator[int]:
    """A server that listens on SPECIFIC only."""
    server = ThreadingHTTPServer((SPECIFIC, 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_status_and_readiness_probe_a_balancer_where_it_is_published(specific_port: int) -> None:
    published = replace(group(port=specific_port), bind=SPECIFIC)
    assert asyncio.run(balancer_statuses([published], None)) == {"ollama-balancer": "200"}
    # the same port on 127.0.0.1 is closed: dialling loopback whatever the bind (the old way) cannot see it
    loopback = replace(published, bind="127.0.0.1")
    assert asyncio.run(balancer_statuses([loopback], None))["ollama-balancer"] != "200"


def test_the_gateway_probe_dials_the_gateway_where_it_is_published(specific_port: int) -> None:
    routes = [{"name": "m", "engine": "openai", "model": "gpt-4.1"}]
    gateway = GatewaySpec.model_validate({"bind": SPECIFIC, "port": specific_port, "models": routes})
    assert probe_gateway(gateway, None, deep=False) == "ready"
    elsewhere = GatewaySpec.model_validate({"port": specific_port, "models": routes})
    assert probe_gateway(elsewhere, None, deep=False) != "ready"


def test_eval_reaches_the_gateway_where_it_is_published() -> None:
    """`taustack eval run` reaches the gateway of the last rendered stack at its bind, not at 127.0.0.1."""
    from taustack.eval.serving import gateway_of
    from taustack.stackfile.stack import StackSpec

    spec = StackSpec.model_validate({"gateway": {"bind": "192.168.1.10", "models": [
        {"name": "m", "engine": "vllm", "model": "m"}]}, "vllm": {"model": "m"}})
    gateway = gateway_of(spec, "sk-test")
    assert gateway is not None and gateway.url == "http://192.168.1.10:4000"
