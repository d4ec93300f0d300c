"""Each host's Docker Engine, reached through Docker's own remote access (`docker -H ssh://...` runs the user's ssh:
keys, known_hosts and ~/.ssh/config as they are; `docker --context NAME`; or the controller's own engine). Every
command is echoed with the host it runs on; a failure names the host and its endpoint."""

from __future__ import annotations

import contextvars
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from taustack.errors import TaustackError
from taustack.runtime.docker import (
    ComposeProject,
    ContainerState,
    DockerError,
    RunResult,
    container_states,
    run_compose,
    run_docker,
)
from taustack.stackfile.hosts import HostSpec
from taustack.workspace import Workspace

T = TypeVar("T")


class HostError(TaustackError):
    """A host's engine did not answer, or a command there failed: names the host and how it is reached."""

    def __init__(self, host: Host, detail: str) -> None:
        super().__init__(f"host {host.name} ({host.spec.docker}): {detail}")
        self.host = host


@dataclass(frozen=True)
class Host:
    """One host of the stack file, by name."""

    name: str
    spec: HostSpec

    @property
    def address(self) -> str:
        return self.spec.address

    def docker_flags(self) -> list[str]:
        """The docker CLI's global flags that reach this host's engine."""
        if self.spec.is_local():
            return []
        if self.spec.is_ssh():
            return ["-H", self.spec.docker]
        return ["--context", self.spec.docker]

    def argv(self, *args: str) -> list[str]:
        return ["docker", *self.docker_flags(), *args]

    def echo(self, argv: Sequence[str] | str) -> None:
        line = argv if isinstance(argv, str) else shlex.join(argv)
        print(f"[{self.name}] $ {line}", file=sys.stderr, flush=True)

    def run(self, *args: str, capture: bool = True, show: bool = False, check: bool = True) -> RunResult:
        """A docker command on this host; `show` echoes it first. A failure is a HostError with docker's last line."""
        argv = self.argv(*args)
        if show:
            self.echo(argv)
        try:
            return run_docker(argv, capture=capture, show=False, check=check)
        except DockerError as exc:
            raise HostError(self, last_line(exc.stderr) or f"`{shlex.join(argv)}` exited {exc.returncode}") from None


def last_line(stderr: str) -> str:
    """What docker said last, as one line; when its ssh could not connect, ssh's own reason (docker wraps it in a
    long `error during connect: ... stderr=REASON`)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last.rpartition("stderr=")[2].strip() or last if "stderr=" in last else last


@dataclass(frozen=True)
class HostProject(ComposeProject):
    """A host's compose project: its own rendered file, run on its engine."""

    host: Host | None = None

    def argv(self, *args: str) -> list[str]:
        base = super().argv(*args)
        return [base[0], *(self.host.docker_flags() if self.host else []), *base[1:]]


def host_project(host: Host, workspace: Workspace) -> HostProject:
    """The project of `host` (the stack's project name; every service of its file)."""
    env_file = workspace.env_file if workspace.env_file.is_file() else None
    compose = workspace.generated_dir / "hosts" / host.name / "compose.yaml"
    return HostProject(workspace.root, workspace.project, (compose,), ("*",), env_file, host=host)


def compose_on(host: Host, workspace: Workspace, *args: str, capture: bool = True) -> RunResult:
    """`docker compose ARGS` in the host's project, echoed with the host; a failure is a HostError with docker's
    reason (ssh's, when the host did not answer)."""
    project = host_project(host, workspace)
    host.echo(project.argv(*args))
    try:
        return run_compose(project, *args, echo=False, capture=capture)
    except DockerError as exc:
        raise HostError(host, last_line(exc.stderr) or str(exc)) from None


def host_states(host: Host, workspace: Workspace) -> dict[str, ContainerState]:
    """The host's containers by service; a HostError when its engine does not answer."""
    try:
        return container_states(host_project(host, workspace))
    except DockerError as exc:
        raise HostError(host, last_line(exc.stderr) or str(exc)) from None


def stack_hosts(hosts: Mapping[str, HostSpec], names: Iterable[str] | None = None) -> list[Host]:
    """The hosts (all, or those named) in the file's order."""
    wanted = set(hosts) if names is None else set(names)
    return [Host(name, spec) for name, spec in hosts.items() if name in wanted]


def on_hosts(hosts: Sequence[Host], work: Callable[[Host], T]) -> list[tuple[Host, T | HostError]]:
    """`work` on every host at once; a HostError is that host's result, not the end of the others."""
    def guarded(host: Host) -> T | HostError:
        try:
            return work(host)
        except HostError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        # each thread runs in a copy of this context: the docker runner in use (runtime.docker.use_runner) follows
        futures = [pool.submit(contextvars.copy_context().run, guarded, host) for host in hosts]
        return [(host, future.result()) for host, future in zip(hosts, futures, strict=True)]


def all_or_raise(results: Sequence[tuple[Host, T | HostError]]) -> list[T]:
    """Every host's result, or one error naming every host that failed."""
    failed = [result for _, result in results if isinstance(result, HostError)]
    if failed:
        raise TaustackError("; ".join(str(error) for error in failed))
    return [result for _, result in results if not isinstance(result, HostError)]
