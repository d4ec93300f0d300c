"""The controller's verbs: render, up (with readiness), down and status, over one compose project."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from taustack.compose import ComposeError, ComposeProject, container_states, run_compose, service_logs
from taustack.engines import ollama
from taustack.errors import NotReadyError, TaustackError
from taustack.health import probe_groups, wait_ready
from taustack.pull import pull_model
from taustack.render import RenderedStack, render_stack, write_files
from taustack.spec import StackSpec
from taustack.status import ReplicaRow, build_rows, print_table
from taustack.workspace import Workspace


@dataclass(frozen=True)
class Stack:
    """A validated spec, what it renders to, and the compose project that runs it."""

    spec: StackSpec
    workspace: Workspace
    rendered: RenderedStack

    @property
    def models(self) -> list[str]:
        return list(self.spec.ollama.models) if self.spec.ollama else []

    def project(self, all_profiles: bool = False) -> ComposeProject:
        files = [self.workspace.root / "compose.yaml"]
        if self.workspace.compose_file.is_file():
            files.append(self.workspace.compose_file)
        profiles = ("*",) if all_profiles else self.rendered.profiles
        return ComposeProject(self.workspace.root, self.workspace.project, tuple(files), profiles)


def render(spec: StackSpec, workspace: Workspace, console: Console) -> Stack:
    """Render the spec and write compose/generated/ (atomically, only what changed)."""
    rendered = render_stack(spec, workspace)
    changed = write_files(workspace.generated_dir, rendered.files)
    where = workspace.generated_dir
    if changed:
        for name in changed:
            console.print(f"rendered {where / name}")
    else:
        console.print(f"{where}: up to date")
    return Stack(spec, workspace, rendered)


def failing_services(project: ComposeProject, services: list[str]) -> list[str]:
    states = container_states(project)
    return [
        name for name in services
        if name not in states or states[name].state != "running" or states[name].health not in ("", "healthy")
    ]


def explain(project: ComposeProject, services: list[str], console: Console) -> None:
    """Each named service's last log lines, to show why it is not ready."""
    for service in services:
        console.print(f"[bold]--- last log lines of {service} ---[/bold]")
        console.print(service_logs(project, service).rstrip() or "(no output)", markup=False, highlight=False)


def up(stack: Stack, console: Console, wait: bool, timeout_s: float) -> list[ReplicaRow]:
    """Start every group; with `wait`, return only when every replica answers and lists every model."""
    if not stack.rendered.groups:
        raise TaustackError("the stack file has no engine section (ollama:): nothing to start")
    project = stack.project()
    started = time.monotonic()
    args = ["up", "-d", "--remove-orphans"]
    if wait:
        args += ["--wait", "--wait-timeout", str(int(timeout_s))]
    try:
        run_compose(project, *args)
    except ComposeError as exc:
        services = [r.service for g in stack.rendered.groups for r in g.replicas]
        services += [g.balancer_service for g in stack.rendered.groups]
        bad = failing_services(project, services)
        explain(project, bad, console)
        named = f": {', '.join(bad)} not healthy" if bad else ""
        raise TaustackError(f"docker compose up failed{named} ({exc})") from None
    if not wait:
        console.print("started; not waiting for readiness (--no-wait): models are not pulled")
        return []
    for model in stack.models:
        probes = probe_groups(stack.rendered.groups)
        if any(ollama.missing_models(health, [model]) for health in probes):
            pull_model(stack.rendered.groups, model, console)
    remaining = max(1.0, timeout_s - (time.monotonic() - started))
    ready, probes = wait_ready(stack.rendered.groups, stack.models, remaining)
    rows = build_rows(stack.rendered.groups, probes, container_states(project), stack.models)
    print_table(rows, console)
    if not ready:
        bad = [row.service for row in rows if not row.ready]
        explain(project, bad, console)
        raise NotReadyError(f"not ready after {int(timeout_s)}s: {', '.join(bad)}")
    console.print(f"ready in {time.monotonic() - started:.1f}s: {stack.rendered.groups[0].balancer_url}")
    return rows


def down(stack: Stack, volumes: bool) -> None:
    args = ["down", "--remove-orphans"] + (["--volumes"] if volumes else [])
    run_compose(stack.project(all_profiles=True), *args)


def status(stack: Stack, console: Console) -> list[ReplicaRow]:
    """Print a row per replica; raise NotReadyError (exit 3) when any is not ready."""
    if not stack.rendered.groups:
        raise TaustackError("the stack file has no engine section (ollama:): nothing to report")
    project = stack.project()
    probes = probe_groups(stack.rendered.groups)
    rows = build_rows(stack.rendered.groups, probes, container_states(project), stack.models)
    print_table(rows, console)
    bad = [row.service for row in rows if not row.ready]
    if bad:
        raise NotReadyError(f"not ready: {', '.join(bad)}")
    return rows


def stderr_console() -> Console:
    return Console(file=sys.stderr)


def default_stack_path(workspace: Workspace) -> Path:
    return workspace.root / "serving" / "stack.yaml"
