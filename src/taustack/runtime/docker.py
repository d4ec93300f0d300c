"""The one place that runs `docker compose`: a typed argv builder, echoed commands, typed errors."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taustack.errors import TaustackError


class ComposeError(TaustackError):
    """`docker compose` failed: carries the command, its exit code and its stderr."""

    def __init__(self, command: Sequence[str], returncode: int, stderr: str) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.stderr = stderr
        last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "")
        super().__init__(f"`{shlex.join(self.command)}` exited {returncode}" + (f": {last.strip()}" if last else ""))


@dataclass(frozen=True)
class ComposeProject:
    """A compose project: root compose.yaml plus rendered files, with the profiles to enable."""

    root: Path
    name: str
    files: tuple[Path, ...]
    profiles: tuple[str, ...] = ()
    env_file: Path | None = None

    def argv(self, *args: str) -> list[str]:
        argv = ["docker", "compose", "--project-directory", str(self.root), "-p", self.name]
        if self.env_file is not None:
            argv += ["--env-file", str(self.env_file)]
        for file in self.files:
            argv += ["-f", str(file)]
        for profile in self.profiles:
            argv += ["--profile", profile]
        return [*argv, *args]


def run_compose(
    project: ComposeProject, *args: str, capture: bool = False, echo: bool = True, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one compose command. Echoed to stderr first; output streams through unless captured.

    stderr is always captured for the error, and passed on to the user when not capturing output.
    """
    argv = project.argv(*args)
    if echo:
        print(f"$ {shlex.join(argv)}", file=sys.stderr, flush=True)
    try:
        result = subprocess.run(
            argv, stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE, text=True, check=False
        )
    except FileNotFoundError:
        raise TaustackError("docker is not installed (no `docker` on PATH)") from None
    if not capture and result.stderr:
        sys.stderr.write(result.stderr)
    if check and result.returncode != 0:
        raise ComposeError(argv, result.returncode, result.stderr or "")
    return result


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
    return (result.stdout or "") + (result.stderr or "")


def recent_log_lines(project: ComposeProject, services: Sequence[str], since: str) -> list[str]:
    """The services' log lines from the last `since` (a Docker duration such as 5m), without prefixes."""
    if not services:
        return []
    result = run_compose(project, "logs", "--no-color", "--no-log-prefix", "--since", since, *services,
                         capture=True, echo=False, check=False)
    return (result.stdout or "").splitlines()
