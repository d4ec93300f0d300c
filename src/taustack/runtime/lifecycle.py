"""The controller's verbs over one compose project: render and up write compose/generated/; down, status, logs
read the last render (rendered again in memory, nothing written)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from taustack.engines.base import ReplicaGroup
from taustack.engines.registry import engine_for, engine_sections
from taustack.errors import NotReadyError, TaustackError
from taustack.fileio import write_atomic, write_files
from taustack.render.stack import RenderedStack, render_stack
from taustack.runtime.docker import (
    ComposeError,
    ComposeProject,
    Runner,
    container_states,
    current_runner,
    recent_log_lines,
    run_compose,
    service_logs,
)
from taustack.runtime.gateway import gateway_url, probe_gateway, wait_gateway
from taustack.runtime.health import probe_balancers, probe_everything, wait_ready
from taustack.runtime.images import require_local_images
from taustack.runtime.pull import pull_missing
from taustack.runtime.status import (
    RECENT_WINDOW,
    ReplicaRow,
    build_rows,
    gateway_row,
    print_table,
    show_rows,
    tool_rows,
)
from taustack.runtime.toolcheck import check_groups
from taustack.runtime.traffic import summarize_lines
from taustack.secrets import API_TOKEN, MASTER_KEY, ensure_secret, environment, read_env
from taustack.stackfile.resolve import resolve_stack
from taustack.stackfile.stack import StackSpec
from taustack.workspace import Workspace


@dataclass(frozen=True)
class Stack:
    """A validated spec, what it renders to, and the compose project that runs it."""

    spec: StackSpec
    workspace: Workspace
    rendered: RenderedStack
    only: str | None = None
    runner: Runner | None = field(default=None, compare=False, repr=False)  # None: the current (subprocess) one

    @property
    def env_file(self) -> Path:
        return self.workspace.env_file

    @property
    def with_gateway(self) -> bool:
        return self.spec.gateway is not None and self.only in (None, "gateway")

    def api_token(self) -> str | None:
        return read_env(self.env_file).get(API_TOKEN) or os.environ.get(API_TOKEN)

    def master_key(self) -> str | None:
        return read_env(self.env_file).get(MASTER_KEY) or os.environ.get(MASTER_KEY)

    def client_headers(self, group: ReplicaGroup) -> dict[str, str]:
        """What a client sends the group's balancer: the API token on a public bind, else the engine's own key
        (vLLM's api_key_env: a loopback balancer passes the client's Authorization on), else nothing."""
        secret = self.api_token() if group.auth else None
        if not group.auth and group.key_env:
            secret = read_env(self.env_file).get(group.key_env) or os.environ.get(group.key_env)
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def ensure_secrets(self) -> None:
        """The master key (gateway) and the API token (public binds) exist in .env before compose reads it."""
        if self.spec.gateway is not None:
            ensure_secret(self.env_file, MASTER_KEY)
        if any(group.auth for group in self.rendered.groups):
            ensure_secret(self.env_file, API_TOKEN)

    @property
    def groups(self) -> tuple[ReplicaGroup, ...]:
        """The groups this command acts on: all of them, or the one `--engine` names."""
        if self.only == "gateway":
            return self.rendered.groups
        return tuple(g for g in self.rendered.groups if self.only is None or g.engine == self.only)

    def project(self, all_profiles: bool = False) -> ComposeProject:
        files = [self.workspace.root / "compose.yaml"]
        if self.workspace.compose_file.is_file():
            files.append(self.workspace.compose_file)
        profiles = ("*",) if all_profiles else tuple(group.profile for group in self.groups)
        if self.with_gateway and not all_profiles:
            profiles += ("gateway",)
        if self.spec.monitoring is not None and self.only is None and not all_profiles:
            profiles += ("monitoring",) + (("grafana",) if self.spec.monitoring.grafana else ())
        return ComposeProject(self.workspace.root, self.workspace.project, tuple(files), profiles,
                              self.env_file if self.env_file.is_file() else None, self.runner or current_runner())

    def require_groups(self) -> tuple[ReplicaGroup, ...]:
        if self.only == "gateway" and self.spec.gateway is None:
            raise TaustackError("the stack file has no gateway section: nothing to do")
        if not self.groups and not self.with_gateway:
            which = f"no {self.only} section" if self.only else "no engine section (ollama:, llamacpp:)"
            raise TaustackError(f"the stack file has {which}: nothing to do")
        return self.groups

    def preflight(self) -> None:
        """What can be checked before any container starts: model files and locally built images."""
        images = [self.spec.balancer.image]
        for engine, section in engine_sections(self.spec):
            if any(group.engine == engine.name for group in self.groups):
                engine.preflight(section, self.workspace)
                images.append(section.image)
        if self.with_gateway and self.spec.gateway is not None:
            images.append(self.spec.gateway.image)
        if self.spec.monitoring is not None and self.only is None:
            images += [self.spec.monitoring.exporter_image, self.spec.monitoring.prometheus_image]
        require_local_images(images, self.runner)


RENDER_RECORD = ".render.json"
GPU_FLAGS = {"gpus": "--gpus/GPUS", "gpu_ids": "--gpu-ids/GPU_IDS", "replicas": "--replicas/REPLICAS"}


@dataclass(frozen=True)
class StackSource:
    """What a render is made of: the stack file, the GPU overrides as given (words) and the engine they apply to."""

    stack_file: Path
    overrides: dict[str, str] = field(default_factory=dict)
    engine: str | None = None

    def load(self) -> StackSpec:
        from taustack.stackfile.load import load_stack

        overrides: dict[str, tuple[Any, str]] = {}
        for key, word in self.overrides.items():
            value: Any = int(word) if key == "replicas" and word.strip().lstrip("-").isdigit() else word
            overrides[key] = (value, GPU_FLAGS[key])
        return load_stack(self.stack_file, engine_overrides=overrides, engine=self.engine)

    def record(self) -> str:
        data = {"stack_file": str(self.stack_file.resolve()), "overrides": self.overrides, "engine": self.engine}
        return json.dumps(data, indent=2) + "\n"


def render(source: StackSource, workspace: Workspace, console: Console, only: str | None = None) -> Stack:
    """Render the spec and write compose/generated/ (atomically, only what changed), and what it was made of."""
    spec = source.load()
    rendered = render_in_memory(spec, workspace, source.stack_file)
    changed = write_files(workspace.generated_dir, rendered.files)
    write_if_changed(workspace.generated_dir / RENDER_RECORD, source.record())
    if workspace.default_stack() != source.stack_file.resolve():
        write_atomic(workspace.stack_record, f"{source.stack_file.resolve()}\n")
    where = workspace.generated_dir
    if changed:
        for name in changed:
            console.print(f"rendered {where / name}")
    else:
        console.print(f"{where}: up to date")
    return Stack(spec, workspace, rendered, only)


def write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    write_atomic(path, text)


def recorded_source(workspace: Workspace) -> StackSource | None:
    """What the last render was made of (None before the first render, or from a render older than the record)."""
    try:
        data = json.loads((workspace.generated_dir / RENDER_RECORD).read_text(encoding="utf-8"))
        return StackSource(Path(data["stack_file"]), {str(k): str(v) for k, v in data["overrides"].items()},
                           data.get("engine"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def last_render(workspace: Workspace, stack_path: Path | None, overrides: dict[str, str], engine: str | None,
                console: Console) -> Stack:
    """The stack as rendered last, rendered again in memory: read-only commands write nothing.

    The stack file and overrides of that render are used unless the command names others."""
    recorded = recorded_source(workspace)
    if recorded is None and not workspace.compose_file.is_file():
        where = workspace.from_root(workspace.generated_dir).removeprefix("./")
        raise TaustackError(f"nothing rendered in {where}: run taustack up")
    stack_file = (stack_path or (recorded.stack_file if recorded else workspace.default_stack())).resolve()
    if not overrides and recorded is not None and recorded.stack_file.resolve() == stack_file:
        source = recorded
    else:
        source = StackSource(stack_file, overrides, engine)
    spec = source.load()
    rendered = render_in_memory(spec, workspace, source.stack_file)
    if any(read_or_none(workspace.generated_dir / name) != text for name, text in rendered.files.items()):
        console.print(f"note: {stack_file} (with its overrides) no longer renders to what "
                      f"{workspace.generated_dir} holds: run taustack up to apply it", markup=False, highlight=False)
    return Stack(spec, workspace, rendered, engine)


def render_in_memory(spec: StackSpec, workspace: Workspace, stack_file: Path) -> RenderedStack:
    """Resolve the spec against this host (.env, nvidia-smi, the HF cache), then render it; nothing is written."""
    return render_stack(resolve_stack(spec, environment(workspace.env_file)), workspace, stack_file)


def read_or_none(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


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


def up(stack: Stack, console: Console, wait: bool, timeout_s: float, warm_models: bool = False) -> list[ReplicaRow]:
    """Start the groups; with `wait`, return only when every replica answers and serves its models."""
    if stack.spec.hosts is not None:
        from taustack.runtime import across

        return across.up(stack, console, wait, timeout_s)
    groups = stack.require_groups()
    stack.preflight()
    stack.ensure_secrets()
    project = stack.project()
    started = time.monotonic()
    args = ["up", "-d", "--remove-orphans"]
    if wait:
        args += ["--wait", "--wait-timeout", str(int(timeout_s))]
    try:
        run_compose(project, *args)
    except ComposeError as exc:
        services = [service for group in groups for service in group.services]
        bad = failing_services(project, services + (["gateway"] if stack.with_gateway else []))
        explain(project, bad, console)
        named = f": {', '.join(bad)} not healthy" if bad else ""
        raise TaustackError(f"docker compose up failed{named} ({exc})") from None
    if not wait:
        console.print("started; not waiting for readiness (--no-wait): models are not pulled")
        return []
    for group in groups:
        if engine_for(group).pulls_models:
            pull_missing(group, console)
    if warm_models:
        warm(stack, console)
    remaining = max(1.0, timeout_s - (time.monotonic() - started))
    token = stack.api_token()
    ready, probes = wait_ready(groups, remaining, token)
    containers = container_states(project)
    rows = build_rows(groups, probes, containers, probe_balancers(groups, token))
    if stack.with_gateway and stack.spec.gateway is not None:
        remaining = max(1.0, timeout_s - (time.monotonic() - started))
        answer = wait_gateway(stack.spec.gateway, stack.master_key(), remaining) if ready else "not probed"
        rows.append(gateway_row(stack.spec.gateway, answer, containers))
        ready = ready and answer == "ready"
    checks = check_groups(groups, stack.client_headers) if ready else []
    rows += tool_rows(checks)
    print_table(rows, console)
    if not ready:
        bad = [row.service for row in rows if not row.ready]
        explain(project, bad, console)
        raise NotReadyError(f"not ready after {int(timeout_s)}s: {', '.join(bad)}")
    failed = [check.line() for check in checks if check.blocks]
    if failed:
        raise NotReadyError("; ".join(failed) + " (tool_check: require; warn or off in the stack file to serve anyway)")
    urls = ", ".join(f"{group.engine} {group.balancer_url}" for group in groups)
    if stack.with_gateway and stack.spec.gateway is not None:
        urls += f", gateway {gateway_url(stack.spec.gateway)}/v1 (key: taustack key)"
    console.print(f"ready in {time.monotonic() - started:.1f}s: {urls}")
    return rows


def down(stack: Stack, volumes: bool) -> None:
    if stack.spec.hosts is not None:
        from taustack.runtime import across

        return across.down(stack, volumes)
    args = ["down", "--remove-orphans"] + (["--volumes"] if volumes else [])
    run_compose(stack.project(all_profiles=True), *args)


def status(stack: Stack, console: Console, as_json: bool = False) -> list[ReplicaRow]:
    """Print a row per replica (a table, or JSON on stdout); raise NotReadyError (exit 3) when any is not ready.

    Probes, `docker compose ps` and the balancers' recent access-log lines are read at the same time.
    """
    if stack.spec.hosts is not None:
        from taustack.runtime import across

        return across.status(stack, console, as_json)
    groups = stack.require_groups()
    project = stack.project()
    token = stack.api_token()
    with ThreadPoolExecutor(max_workers=4) as pool:
        containers_job = pool.submit(container_states, project)
        log_job = pool.submit(recent_log_lines, project, [g.balancer_service for g in groups], RECENT_WINDOW)
        gateway_job = (pool.submit(probe_gateway, stack.spec.gateway, None, False)
                       if stack.with_gateway and stack.spec.gateway is not None else None)
        tools_job = pool.submit(check_groups, groups, stack.client_headers)
        probes, balancers, connections = asyncio.run(probe_everything(groups, token))
        rows = build_rows(groups, probes, containers_job.result(), balancers, summarize_lines(log_job.result()),
                          connections)
        if gateway_job is not None and stack.spec.gateway is not None:
            rows.append(gateway_row(stack.spec.gateway, gateway_job.result(), containers_job.result()))
        rows += tool_rows(tools_job.result())
    return show_rows(rows, console, as_json)


def logs(stack: Stack, services: tuple[str, ...], follow: bool, tail: int) -> None:
    """The services' logs (all of the stack's when none is named), through `docker compose logs`."""
    if stack.spec.hosts is not None:
        from taustack.console import stderr_console
        from taustack.runtime import across

        return across.logs(stack, services, follow, tail, stderr_console())
    known = {name for group in stack.rendered.groups for name in group.services}
    if stack.spec.gateway is not None:
        known.add("gateway")
    unknown = [name for name in services if name not in known]
    if unknown:
        raise TaustackError(f"no service {unknown[0]!r} in this stack (it has: {', '.join(sorted(known))})")
    args = ["logs", "--tail", str(tail)] + (["--follow"] if follow else [])
    run_compose(stack.project(all_profiles=True), *args, *services)


def warm(stack: Stack, console: Console) -> None:
    """Load every listed model on every replica whose engine loads on demand (Ollama), and keep it loaded."""
    for group in stack.groups:
        engine = engine_for(group)
        for replica in group.replicas:
            for model in group.models:
                started = time.monotonic()
                if engine.warm(replica, model):
                    console.print(f"{replica.service}: {model} loaded in {time.monotonic() - started:.1f}s")



