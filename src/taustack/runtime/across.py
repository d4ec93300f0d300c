"""The controller's verbs for a stack across hosts: one compose project per host, driven through each host's Docker
Engine. `up` checks every host before it starts anything; `down`, `status` and `logs` carry on past a host that does
not answer and name it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from taustack.engines.hosted import HostedReplica
from taustack.engines.llamacpp import MODELS_VOLUME, model_path
from taustack.engines.registry import engine_sections
from taustack.errors import NotReadyError, TaustackError
from taustack.render.gate import host_replicas
from taustack.render.hosts import host_file
from taustack.runtime.delivery import (
    ImagePlan,
    compose_volume,
    file_digest,
    host_images,
    plan_images,
    require_local,
    send_file,
    send_image,
)
from taustack.runtime.gateway import wait_gateway
from taustack.runtime.hostcheck import check_path, check_reachable
from taustack.runtime.hoststatus import explain_hosts, host_rows, wait_hosts_ready
from taustack.runtime.remote import Host, HostError, all_or_raise, compose_on, on_hosts, stack_hosts
from taustack.runtime.status import print_table, show_rows, tool_rows
from taustack.runtime.toolcheck import check_groups
from taustack.secrets import API_TOKEN, ensure_secret
from taustack.stackfile.hosts import front_host

if TYPE_CHECKING:
    from taustack.runtime.lifecycle import Stack
    from taustack.runtime.status import ReplicaRow

HF_CACHE_PREFIX = "/root/.cache/huggingface/"


def used_hosts(stack: Stack) -> list[Host]:
    """The hosts with a compose file in this render (every host something runs on), in the file's order."""
    assert stack.spec.hosts is not None
    names = [name for name in stack.spec.hosts if host_file(name) in stack.rendered.files]
    return stack_hosts(stack.spec.hosts, names)


def front(stack: Stack) -> Host:
    assert stack.spec.hosts is not None
    name = front_host(stack.spec.hosts)
    return Host(name, stack.spec.hosts[name])


def refuse_partial(stack: Stack) -> None:
    if stack.only is not None:
        raise TaustackError(f"--engine {stack.only}: a stack across hosts is started, stopped and shown whole")


def up(stack: Stack, console: Console, wait: bool, timeout_s: float) -> list[ReplicaRow]:
    """Check every host, deliver what each needs, start each host's project (the front last), wait until ready."""
    refuse_partial(stack)
    started = time.monotonic()
    hosts = used_hosts(stack)
    all_or_raise(on_hosts(hosts, lambda host: host.run("version", "--format", "{{.Server.Version}}")))
    for engine, section in engine_sections(stack.spec):
        engine.preflight(section, stack.workspace)
    wanted = {host.name: host_images(stack.rendered.files[host_file(host.name)]) for host in hosts}
    local_ids = require_local(image for images in wanted.values() for image in images)
    plans = dict(zip([h.name for h in hosts], all_or_raise(
        on_hosts(hosts, lambda host: plan_images(host, wanted[host.name], local_ids))), strict=True))
    if stack.spec.gateway is not None:
        stack.ensure_secrets()
    ensure_secret(stack.env_file, API_TOKEN)
    send_images(hosts, plans)
    all_or_raise(on_hosts(hosts, lambda host: deliver_files(stack, host)))
    check_hosts_reach(stack, hosts)
    start_projects(stack, hosts)
    if not wait:
        console.print("started on every host; not waiting for readiness (--no-wait)")
        return []
    token = stack.api_token()
    remaining = max(1.0, timeout_s - (time.monotonic() - started))
    ready = wait_hosts_ready(stack.rendered.groups, remaining, token)
    if ready and stack.spec.gateway is not None:
        remaining = max(1.0, timeout_s - (time.monotonic() - started))
        wait_gateway(stack.spec.gateway, stack.master_key(), remaining)
    rows = host_rows(stack, hosts)
    checks = check_groups(stack.rendered.groups, stack.client_headers) if ready else []
    rows += tool_rows(checks)
    print_table(rows, console)
    bad = [row.service for row in rows if not row.ready]
    if bad:
        explain_hosts(stack, hosts, console)
        raise NotReadyError(f"not ready after {int(timeout_s)}s: {', '.join(bad)}")
    urls = ", ".join(f"{group.engine} {group.balancer_url}" for group in stack.rendered.groups)
    console.print(f"ready in {time.monotonic() - started:.1f}s on {len(hosts)} hosts: {urls}")
    return rows


def send_images(hosts: Sequence[Host], plans: Mapping[str, ImagePlan]) -> None:
    """Each image to every host that lacks it, from one save; one error naming every host a load failed on."""
    images = dict.fromkeys(image for host in hosts for image in plans[host.name].send)
    failed = []
    for image in images:
        failed += send_image(image, [host for host in hosts if image in plans[host.name].send])
    if failed:
        raise TaustackError("; ".join(str(error) for error in failed))


def deliver_files(stack: Stack, host: Host) -> None:
    """A GGUF on this machine into the host's models volume, where llama.cpp replicas run."""
    llama = stack.spec.llamacpp
    group = stack.rendered.group("llamacpp")
    if llama is None or group is None or not host_replicas([group], host.name):
        return
    path = model_path(llama, stack.workspace)
    if path is None:
        return
    volume = compose_volume(host, stack.workspace.project, MODELS_VOLUME)
    send_file(host, Path(path), volume, stack.spec.balancer.image, file_digest(Path(path)))


def check_hosts_reach(stack: Stack, hosts: Sequence[Host]) -> None:
    """Every other host's gate port answers the front host; vLLM's model path is on every host serving it."""
    door = front(stack)
    image = stack.spec.balancer.image

    def check(host: Host) -> None:
        served = host_replicas(stack.rendered.groups, host.name)
        if host.name != door.name and served:
            check_reachable(door, host, served[0][1].port, image)
        vllm = stack.spec.vllm
        if vllm is not None and "/" in vllm.hf_cache and vllm_on(stack, host):
            inside = vllm.model.removeprefix(HF_CACHE_PREFIX) if vllm.model.startswith(HF_CACHE_PREFIX) else ""
            check_path(host, vllm.hf_cache, str(vllm.image), inside)

    all_or_raise(on_hosts(hosts, check))


def vllm_on(stack: Stack, host: Host) -> bool:
    group = stack.rendered.group("vllm")
    return group is not None and any(isinstance(r, HostedReplica) and host.name in (r.nodes or (r.host,))
                                     for r in group.replicas)


def start_projects(stack: Stack, hosts: Sequence[Host]) -> None:
    """`compose up -d` on the replica hosts (at once), then on the front host."""
    door = front(stack).name

    def start(host: Host) -> None:
        compose_on(host, stack.workspace, "up", "-d", "--remove-orphans")

    all_or_raise(on_hosts([h for h in hosts if h.name != door], start))
    all_or_raise(on_hosts([h for h in hosts if h.name == door], start))


def down(stack: Stack, volumes: bool) -> None:
    """`compose down` on every host at once; a host that does not answer is named, the others still go down."""
    hosts = used_hosts(stack)

    def stop(host: Host) -> None:
        compose_on(host, stack.workspace, "down", "--remove-orphans", *(["--volumes"] if volumes else []))

    failed = [str(result) for _, result in on_hosts(hosts, stop) if isinstance(result, HostError)]
    if failed:
        raise TaustackError("down on the other hosts went through; not on: " + "; ".join(failed))


def status(stack: Stack, console: Console, as_json: bool = False) -> list[ReplicaRow]:
    """A row per replica (a vLLM group as one row naming its hosts), gate and balancer; unreachable hosts named."""
    refuse_partial(stack)
    rows = host_rows(stack, used_hosts(stack))
    rows += tool_rows(check_groups(stack.rendered.groups, stack.client_headers))
    return show_rows(rows, console, as_json)


def logs(stack: Stack, services: tuple[str, ...], follow: bool, tail: int, console: Console) -> None:
    """Each host's logs in turn (only the services named, where they run); an unreachable host is named."""
    failed = []
    for host in used_hosts(stack):
        text = stack.rendered.files[host_file(host.name)]
        here = [name for name in services if f"\n  {name}:\n" in text]
        if services and not here:
            continue
        try:
            compose_on(host, stack.workspace, "logs", "--tail", str(tail), *(["--follow"] if follow else []), *here,
                       capture=False)
        except HostError as exc:
            failed.append(str(exc))
            console.print(failed[-1], markup=False, highlight=False)
    if failed:
        raise TaustackError("logs of the other hosts shown; not of: " + "; ".join(failed))

