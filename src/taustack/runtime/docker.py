"""The one Docker path: `docker compose` and `docker image inspect` through the CLI, containers through the SDK.

Every command the user asked for is echoed to stderr before it runs (an SDK container as its `docker run` line);
every failure is a DockerError carrying the command, its exit code and its stderr.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from taustack.errors import TaustackError

NO_DOCKER = "docker is not installed (no `docker` on PATH)"


class DockerError(TaustackError):
    """A docker command (CLI or SDK) failed: carries the command (argv), its exit code and its stderr."""

    def __init__(self, command: Sequence[str], returncode: int, stderr: str, message: str | None = None) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.stderr = stderr
        last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "")
        super().__init__(message or f"`{shlex.join(self.command)}` exited {returncode}"
                         + (f": {last.strip()}" if last else ""))


ComposeError = DockerError  # the name lifecycle and older callers use for a failed `docker compose`


# --- the runner: how a CLI command is executed (injectable for tests) -------------------------------------------

@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: str
    stderr: str


class Runner(Protocol):
    """Runs argv; stdout is captured when `capture`, else it streams to the terminal (and is returned as "")."""

    def __call__(self, argv: Sequence[str], capture: bool) -> RunResult: ...


def subprocess_runner(argv: Sequence[str], capture: bool) -> RunResult:
    """The real runner: stderr is always captured (for the error); a missing docker binary is one clear error."""
    try:
        result = subprocess.run(list(argv), stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE,
                                text=True, check=False)
    except FileNotFoundError:
        raise TaustackError(NO_DOCKER) from None
    return RunResult(result.returncode, result.stdout or "", result.stderr or "")


_RUNNER: ContextVar[Runner] = ContextVar("taustack_docker_runner", default=subprocess_runner)


def current_runner() -> Runner:
    return _RUNNER.get()


@contextlib.contextmanager
def use_runner(runner: Runner) -> Iterator[Runner]:
    """Run every docker CLI command made inside the block (projects created in it included) through `runner`."""
    token = _RUNNER.set(runner)
    try:
        yield runner
    finally:
        _RUNNER.reset(token)


def echo(argv: Sequence[str]) -> None:
    print(f"$ {shlex.join(argv)}", file=sys.stderr, flush=True)


def run_docker(argv: Sequence[str], capture: bool = False, show: bool = True, check: bool = True,
               runner: Runner | None = None) -> RunResult:
    """Run one docker CLI command: echoed first (`show`), stderr passed on when output is not captured."""
    if show:
        echo(argv)
    result = (runner or current_runner())(argv, capture)
    if not capture and result.stderr:
        sys.stderr.write(result.stderr)
    if check and result.returncode != 0:
        raise DockerError(argv, result.returncode, result.stderr)
    return result


def image_exists(image: str, runner: Runner | None = None) -> bool:
    """`docker image inspect IMAGE` answered (a query: not echoed)."""
    result = run_docker(["docker", "image", "inspect", image], capture=True, show=False, check=False, runner=runner)
    return result.returncode == 0


# --- docker compose ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ComposeProject:
    """A compose project: root compose.yaml plus rendered files, with the profiles to enable.

    The runner is the one current when the project is made, so threads that use it (status) run through it too."""

    root: Path
    name: str
    files: tuple[Path, ...]
    profiles: tuple[str, ...] = ()
    env_file: Path | None = None
    runner: Runner = field(default_factory=current_runner, compare=False, repr=False)

    def argv(self, *args: str) -> list[str]:
        argv = ["docker", "compose", "--project-directory", str(self.root), "-p", self.name]
        if self.env_file is not None:
            argv += ["--env-file", str(self.env_file)]
        for file in self.files:
            argv += ["-f", str(file)]
        for profile in self.profiles:
            argv += ["--profile", profile]
        return [*argv, *args]


def run_compose(project: ComposeProject, *args: str, capture: bool = False, echo: bool = True,
                check: bool = True) -> RunResult:
    """Run one compose command. Echoed to stderr first; output streams through unless captured."""
    return run_docker(project.argv(*args), capture=capture, show=echo, check=check, runner=project.runner)


@dataclass(frozen=True)
class ContainerState:
    service: str
    name: str
    state: str
    health: str
    exit_code: int


def container_states(project: ComposeProject) -> dict[str, ContainerState]:
    """Service -> its container's state, from `docker compose ps --format json` (both output shapes)."""
    result = run_compose(project, "ps", "--all", "--format", "json", capture=True, echo=False)
    text = result.stdout.strip()
    rows: list[dict[str, Any]] = []
    if text.startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {
        row["Service"]: ContainerState(
            service=row["Service"],
            name=row.get("Name", ""),
            state=row.get("State", ""),
            health=row.get("Health", ""),
            exit_code=int(row.get("ExitCode", 0) or 0),
        )
        for row in rows
    }


def service_logs(project: ComposeProject, service: str, tail: int = 20) -> str:
    result = run_compose(project, "logs", "--no-color", "--tail", str(tail), service, capture=True, echo=False,
                         check=False)
    return result.stdout + result.stderr


def recent_log_lines(project: ComposeProject, services: Sequence[str], since: str) -> list[str]:
    """The services' log lines from the last `since` (a Docker duration such as 5m), without prefixes."""
    if not services:
        return []
    result = run_compose(project, "logs", "--no-color", "--no-log-prefix", "--since", since, *services,
                         capture=True, echo=False, check=False)
    return result.stdout.splitlines()


# --- containers through the Docker SDK ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Volume:
    """A host path (or volume name) mounted into a container."""

    host: str | Path
    container: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    """One container to run detached and remove afterwards; `sdk_options` and `run_argv` are its two spellings."""

    image: str
    command: tuple[str, ...]
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[Volume, ...] = ()
    gpus: tuple[str, ...] = ()
    shm_size: str | None = None
    ipc_host: bool = False
    ulimits: tuple[tuple[str, int], ...] = ()
    user: str | None = None
    working_dir: str | None = None
    network: str | None = None  # a Docker network to join (a stack's compose network), else the default bridge


@dataclass(frozen=True)
class ContainerExit:
    exit_code: int
    oom_killed: bool
    stopped: bool = False


def run_argv(spec: ContainerSpec) -> list[str]:
    """The `docker run` line equivalent to `spec` (environment variables by name only: values may be secrets)."""
    argv = ["docker", "run", "--rm", "--name", spec.name]
    if spec.gpus:
        argv += ["--gpus", f'"device={",".join(spec.gpus)}"']
    if spec.ipc_host:
        argv += ["--ipc", "host"]
    elif spec.shm_size:
        argv += ["--shm-size", spec.shm_size]
    for name, limit in spec.ulimits:
        argv += ["--ulimit", f"{name}={limit}"]
    if spec.user:
        argv += ["--user", spec.user]
    if spec.working_dir:
        argv += ["-w", spec.working_dir]
    if spec.network:
        argv += ["--network", spec.network]
    for key, value in spec.labels.items():
        argv += ["--label", f"{key}={value}"]
    for volume in spec.volumes:
        argv += ["-v", f"{volume.host}:{volume.container}" + (":ro" if volume.read_only else "")]
    for name in spec.environment:
        argv += ["-e", name]
    return [*argv, spec.image, *spec.command]


def sdk_options(spec: ContainerSpec) -> dict[str, Any]:
    """Keyword arguments for `client.containers.run` (pure: unit-tested without Docker)."""
    from docker.types import DeviceRequest, Ulimit

    options: dict[str, Any] = {
        "image": spec.image, "command": list(spec.command), "name": spec.name, "detach": True,
        "labels": dict(spec.labels), "environment": dict(spec.environment),
        "volumes": {str(v.host): {"bind": v.container, "mode": "ro" if v.read_only else "rw"} for v in spec.volumes},
    }
    if spec.working_dir:
        options["working_dir"] = spec.working_dir
    if spec.gpus:
        options["device_requests"] = [DeviceRequest(device_ids=list(spec.gpus), capabilities=[["gpu"]])]
    if spec.ipc_host:
        options["ipc_mode"] = "host"
    elif spec.shm_size:
        options["shm_size"] = spec.shm_size
    if spec.ulimits:
        options["ulimits"] = [Ulimit(name=name, soft=limit, hard=limit) for name, limit in spec.ulimits]
    if spec.user:
        options["user"] = spec.user
    if spec.network:
        options["network"] = spec.network
    return options


def docker_client() -> Any:
    """A Docker SDK client that answered a ping; an Engine that does not answer is a DockerError."""
    try:
        import docker
    except ImportError:  # pragma: no cover - a dependency of taustack
        raise TaustackError("the docker package is missing: pip install 'docker>=7'") from None
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerError(["docker", "version"], 1, str(exc), f"cannot reach the Docker Engine ({exc})") from None
    return client


def sdk_image_exists(client: Any, image: str) -> bool:
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError as exc:
        raise DockerError(["docker", "image", "inspect", image], 1, str(exc.explanation or exc)) from None
    return True


def run_container(client: Any, spec: ContainerSpec, out: TextIO | None = None) -> ContainerExit:
    """Echo, start, stream its logs to `out`, wait and check for an OOM kill; Ctrl-C stops it. Always removed."""
    import docker

    echo(run_argv(spec))
    out = out or sys.stdout
    try:
        container = client.containers.run(**sdk_options(spec))
    except docker.errors.APIError as exc:
        explanation = str(exc.explanation or exc)
        raise DockerError(run_argv(spec), int(exc.status_code or 1), explanation,
                          f"cannot start {spec.name}: {explanation}") from None
    try:
        for chunk in container.logs(stream=True, follow=True):
            out.write(chunk.decode("utf-8", errors="replace"))
            out.flush()
        status = container.wait()
        container.reload()
        state = container.attrs.get("State", {})
        return ContainerExit(int(status.get("StatusCode", state.get("ExitCode", 1))), bool(state.get("OOMKilled")))
    except KeyboardInterrupt:
        container.stop(timeout=10)
        return ContainerExit(130, False, stopped=True)
    finally:
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)


def containers_with_label(client: Any, label: str) -> list[tuple[dict[str, str], str]]:
    """(labels, status) of every container, running or not, carrying `label` (`key` or `key=value`)."""
    import docker

    try:
        found = client.containers.list(all=True, filters={"label": label})
    except docker.errors.APIError as exc:
        raise DockerError(["docker", "ps", "--all", "--filter", f"label={label}"], 1,
                          str(exc.explanation or exc)) from None
    return [(dict(container.labels), str(container.status)) for container in found]
