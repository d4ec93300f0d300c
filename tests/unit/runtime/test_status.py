"""runtime/status.py: a row per replica and per balancer from probes, container states, traffic and counts."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from taustack.engines.base import ReplicaHealth
from taustack.runtime.docker import ContainerState
from taustack.runtime.status import ReplicaRow, build_rows, container_label, gateway_row, print_table
from taustack.runtime.traffic import ReplicaTraffic
from taustack.stackfile.gateway import GatewaySpec
from tests.unit.runtime.probe_data import group, healthy

MODEL = "qwen2.5:0.5b"


def running(service: str, health: str = "") -> ContainerState:
    return ContainerState(service, f"taustack-{service}-1", "running", health, 0)


def containers(*services: str) -> dict[str, ContainerState]:
    return {service: running(service) for service in services}


ALL = containers("ollama-0", "ollama-1", "ollama-balancer")


def rows_for(probes: list[ReplicaHealth] | None = None, states: dict[str, ContainerState] | None = None,
             balancer: str = "200", **kwargs: Any) -> list[ReplicaRow]:
    """Two ollama replicas (GPU 0, GPUs 1,2) and their balancer; probes answer with the model unless given."""
    g = group(devices=(("0",), ("1", "2")))
    probes = probes if probes is not None else [healthy(r) for r in g.replicas]
    return build_rows([g], probes, ALL if states is None else states, {"ollama-balancer": balancer},
                      **kwargs)


def test_container_label() -> None:
    assert container_label(None) == "absent"
    assert container_label(running("x")) == "running"
    assert container_label(running("x", "healthy")) == "running (healthy)"
    assert container_label(ContainerState("x", "x-1", "exited", "", 137)) == "exited"


def test_a_ready_replica_and_its_balancer() -> None:
    replica, _, balancer = rows_for()
    assert replica == ReplicaRow(
        service="ollama-0", engine="ollama", gpus="0", container="running", ready=True, version="0.9.0",
        models_on_disk=(MODEL,), models_loaded=(MODEL,), problem="", probe_ms=12.3, served_recent=0,
        errors_recent=0, p50_ms_recent=None, sessions_recent=0, in_flight=None)
    assert balancer.service == "ollama-balancer" and balancer.ready and balancer.problem == ""
    assert balancer.version == "http://127.0.0.1:11434" and balancer.gpus == "-"
    assert (balancer.served_recent, balancer.errors_recent, balancer.in_flight) == (0, 0, None)
    assert balancer.sessions_recent == 0


def test_gpus_label_lists_the_devices_or_cpu() -> None:
    assert [row.gpus for row in rows_for()[:2]] == ["0", "1,2"]
    g = group(replicas=1)
    assert build_rows([g], [healthy(g.replicas[0])], ALL, {})[0].gpus == "cpu"


def test_a_stopped_or_absent_container_is_not_ready_even_when_the_probe_answers() -> None:
    states = {**ALL, "ollama-0": ContainerState("ollama-0", "c", "exited", "", 1)}
    del states["ollama-1"]
    first, second, _ = rows_for(states=states)
    assert (first.ready, first.container, first.problem) == (False, "exited", "container not running")
    assert (second.ready, second.container, second.problem) == (False, "absent", "container not running")


def test_a_probe_that_did_not_answer_says_why() -> None:
    g = group()
    probes = [healthy(g.replicas[0], (), answered=False, error="connection refused", version=""),
              healthy(g.replicas[1])]
    first, second, _ = rows_for(probes)
    assert (first.ready, first.problem, first.version) == (False, "connection refused", "")
    assert second.ready


def test_a_missing_model_is_named() -> None:
    g = group(models=(MODEL, "llama3.2:1b"))
    probes = [healthy(r) for r in g.replicas]
    rows = build_rows([g], probes, ALL, {"ollama-balancer": "200"})
    assert not rows[0].ready and rows[0].problem == "missing llama3.2:1b"


def test_a_balancer_that_did_not_answer_or_was_not_probed() -> None:
    *_, balancer = rows_for(balancer="connection refused")
    assert not balancer.ready and balancer.problem == "/health: connection refused"
    assert (balancer.served_recent, balancer.errors_recent, balancer.sessions_recent) == (None, None, None)
    g = group()
    *_, unprobed = build_rows([g], [healthy(r) for r in g.replicas], {}, {})
    assert unprobed.problem == "/health: not probed" and unprobed.container == "absent"


def test_in_flight_is_writing_less_the_probe_never_below_zero() -> None:
    for writing, expected in ((3, 2), (1, 0), (0, 0)):
        counts = {"ollama-balancer": {"active": 4, "reading": 0, "writing": writing, "waiting": 1}}
        assert rows_for(connections=counts)[-1].in_flight == expected


def test_a_replica_reports_its_own_in_flight() -> None:
    g = group()
    probes = [healthy(g.replicas[0], in_flight=4), healthy(g.replicas[1])]
    assert [row.in_flight for row in rows_for(probes)[:2]] == [4, None]


def test_traffic_fields_per_replica_and_summed_on_the_balancer() -> None:
    traffic = {"ollama-0": ReplicaTraffic(served=5, errors=1, p50_ms=120.5)}
    first, second, balancer = rows_for(traffic=traffic)
    assert (first.served_recent, first.errors_recent, first.p50_ms_recent) == (5, 1, 120.5)
    assert (second.served_recent, second.errors_recent, second.p50_ms_recent) == (0, 0, None)
    assert (balancer.served_recent, balancer.errors_recent, balancer.p50_ms_recent) == (5, 1, None)
    traffic["ollama-1"] = ReplicaTraffic(served=2, errors=0, p50_ms=80.0)
    both = rows_for(traffic=traffic)[-1]
    assert (both.served_recent, both.errors_recent) == (7, 1)


def test_sessions_per_replica_and_distinct_over_them_on_the_balancer() -> None:
    traffic = {"ollama-0": ReplicaTraffic(served=5, errors=0, p50_ms=100.0, session_ids=frozenset({"s1", "s2"})),
               "ollama-1": ReplicaTraffic(served=3, errors=0, p50_ms=90.0, session_ids=frozenset({"s2", "s3"}))}
    first, second, balancer = rows_for(traffic=traffic)
    assert (first.sessions_recent, second.sessions_recent) == (2, 2)
    assert balancer.sessions_recent == 3  # s2 moved from ollama-0 to ollama-1: once on the balancer
    only_first = rows_for(traffic={"ollama-0": traffic["ollama-0"]})
    assert [row.sessions_recent for row in only_first] == [2, 0, 2]


def test_rows_come_per_group_replicas_then_balancer() -> None:
    ollama, llama = group(), group("llamacpp", 1, ("tiny",), port=18080)
    probes = [healthy(r) for r in ollama.replicas] + [healthy(llama.replicas[0], ("tiny",))]
    rows = build_rows([ollama, llama], probes, {}, {})
    assert [row.service for row in rows] == ["ollama-0", "ollama-1", "ollama-balancer", "llamacpp-0",
                                             "llamacpp-balancer"]


def test_gateway_row() -> None:
    gateway = GatewaySpec.model_validate({"port": 4001, "models": [
        {"name": "fast", "engine": "ollama", "model": MODEL},
        {"name": "fast", "engine": "llamacpp", "model": "tiny"},
        {"name": "smart", "engine": "ollama", "model": "llama3.2:1b"}]})
    row = gateway_row(gateway, "ready", {"gateway": running("gateway", "healthy")})
    assert (row.service, row.engine, row.ready, row.problem) == ("gateway", "litellm", True, "")
    assert row.version == "http://127.0.0.1:4001/v1" and row.models_on_disk == ("fast", "smart")
    assert row.container == "running (healthy)"
    down = gateway_row(gateway, "connection refused", {})
    assert (down.ready, down.problem, down.container) == (False, "connection refused", "absent")


def test_print_table_shows_problems_and_dashes() -> None:
    out = io.StringIO()
    g = group(models=(MODEL, "llama3.2:1b"))
    rows = build_rows([g], [healthy(r) for r in g.replicas], ALL, {"ollama-balancer": "200"})
    print_table(rows, Console(file=out, width=300, color_system=None))
    text = out.getvalue()
    assert "no (missing llama3.2:1b)" in text and "ollama-balancer" in text and "taustack replicas" in text


def test_print_table_has_a_sessions_column_after_served() -> None:
    out = io.StringIO()
    traffic = {"ollama-0": ReplicaTraffic(served=12, errors=0, p50_ms=100.0, session_ids=frozenset({"s1", "s2"})),
               "ollama-1": ReplicaTraffic(served=4, errors=0, p50_ms=90.0, session_ids=frozenset({"s2"}))}
    print_table(rows_for(traffic=traffic), Console(file=out, width=400, color_system=None))
    lines = out.getvalue().splitlines()
    header = next(text for text in lines if "served" in text)
    assert header.index("served") < header.index("sessions") < header.index("5xx")
    cells = {text.split("│")[1].strip(): [cell.strip() for cell in text.split("│")[9:11]]
             for text in lines if text.startswith("│ ollama")}
    assert cells == {"ollama-0": ["12", "2"], "ollama-1": ["4", "1"], "ollama-balancer": ["16", "2"]}
    assert "distinct X-Session-IDs" in out.getvalue()


def test_a_group_with_a_router_gets_its_row_from_the_container_and_its_health_check() -> None:
    from dataclasses import replace

    g = replace(group(), router=True)
    probes = [healthy(r) for r in g.replicas]
    for state, ready, problem in (
        (running("ollama-router", "healthy"), True, ""),
        (running("ollama-router", "starting"), False, "container starting; sessions answered by least_conn"),
        (ContainerState("ollama-router", "x", "restarting", "", 137), False,
         "container not running; sessions answered by least_conn"),
        (None, False, "container not running; sessions answered by least_conn"),
    ):
        states = {**ALL, **({"ollama-router": state} if state else {})}
        rows = build_rows([g], probes, states, {"ollama-balancer": "200"})
        assert [row.service for row in rows] == ["ollama-0", "ollama-1", "ollama-balancer", "ollama-router"]
        assert (rows[-1].ready, rows[-1].problem) == (ready, problem)
