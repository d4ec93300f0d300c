"""The verbs of a stack across hosts against a host whose engine does not answer (docker's own error for an ssh host
that is gone, from a stand-in runner): `up` stops before it starts anything anywhere, naming the host and ssh's
reason; `down` and `logs` carry on with the other hosts and then name it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from rich.console import Console

from taustack.errors import TaustackError
from taustack.runtime import across, lifecycle
from taustack.runtime.docker import RunResult, use_runner
from taustack.workspace import Workspace
from tests.helpers import ROOT, write_stack

GONE = ("error during connect: Get \"http://docker.example.com/v1.41/version\": command [ssh -o ConnectTimeout=30 -T "
        "-l root -- 10.0.0.2 docker system dial-stdio] has exited with exit status 255, make sure the URL is valid, "
        "and Docker 18.09 or later is installed on the remote host: stderr=ssh: connect to host 10.0.0.2 port 22: No "
        "route to host\n")
NAMED = "host b (ssh://root@10.0.0.2): ssh: connect to host 10.0.0.2 port 22: No route to host"


class Engines:
    """Host a answers every docker command; host b's engine is gone."""

    def __init__(self) -> None:
        self.ran: list[list[str]] = []

    def __call__(self, argv: Sequence[str], capture: bool) -> RunResult:
        self.ran.append(list(argv))
        if "ssh://root@10.0.0.2" in argv:
            return RunResult(255, "", GONE)
        return RunResult(0, "[]" if "ps" in argv else "", "")


@pytest.fixture()
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[lifecycle.Stack]:
    monkeypatch.setenv("TAUSTACK_ENV_FILE", str(tmp_path / ".env"))
    (tmp_path / ".env").write_text("TAUSTACK_API_TOKEN=sk-unit\n")
    spec = {"hosts": {"a": {"docker": "ssh://root@10.0.0.1", "address": "10.0.0.1"},
                      "b": {"docker": "ssh://root@10.0.0.2", "address": "10.0.0.2"}},
            "llamacpp": {"model": "m.gguf", "replicas": 2, "bind": "10.0.0.1"}}
    workspace = Workspace(ROOT, "taustack-unit-across", tmp_path / "generated")
    source = lifecycle.StackSource(write_stack(tmp_path / "stack.yaml", spec))
    yield lifecycle.render(source, workspace, Console(stderr=True, quiet=True))


def test_up_names_the_silent_host_and_starts_nothing_anywhere(stack: lifecycle.Stack) -> None:
    engines = Engines()
    with use_runner(engines), pytest.raises(TaustackError) as caught:
        across.up(stack, Console(quiet=True), wait=True, timeout_s=10)
    assert str(caught.value) == NAMED
    assert not any("compose" in argv or "load" in argv or "run" in argv for argv in engines.ran)


def test_down_goes_through_on_the_other_hosts_and_names_the_silent_one(stack: lifecycle.Stack) -> None:
    engines = Engines()
    with use_runner(engines), pytest.raises(TaustackError) as caught:
        across.down(stack, volumes=False)
    assert str(caught.value) == f"down on the other hosts went through; not on: {NAMED}"
    assert any(argv[:3] == ["docker", "-H", "ssh://root@10.0.0.1"] and "down" in argv for argv in engines.ran)


def test_logs_of_the_other_hosts_are_shown_and_the_silent_one_named(stack: lifecycle.Stack) -> None:
    engines = Engines()
    with use_runner(engines), pytest.raises(TaustackError) as caught:
        across.logs(stack, (), follow=False, tail=10, console=Console(quiet=True))
    assert str(caught.value) == f"logs of the other hosts shown; not of: {NAMED}"
    assert any(argv[:3] == ["docker", "-H", "ssh://root@10.0.0.1"] and "logs" in argv for argv in engines.ran)
