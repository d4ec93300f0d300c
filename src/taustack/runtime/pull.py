"""`taustack pull MODEL`: pull through one replica (they share the models volume), verify on every one."""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from taustack.engines.base import Replica, ReplicaGroup, describe_http_error
from taustack.engines.ollama import model_key
from taustack.errors import SpecError, TaustackError
from taustack.runtime.health import missing_models, probe_groups
from taustack.stackfile.base import OLLAMA_MODEL_RE

PULL_TIMEOUT = httpx.Timeout(None, connect=5.0)


def stream_pull(replica: Replica, model: str, console: Console) -> None:
    """POST /api/pull on one replica and show its progress; an `error` line or a non-200 fails."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with (
        Progress(*columns, console=console, transient=True) as progress,
        httpx.Client(timeout=PULL_TIMEOUT, trust_env=False) as client,
        client.stream("POST", f"{replica.host_url}/api/pull", json={"model": model, "stream": True}) as response,
    ):
        if response.status_code != 200:
            body = response.read().decode(errors="replace").strip()
            raise TaustackError(f"pull {model} on {replica.service}: answered {response.status_code} {body}")
        task = progress.add_task(f"{replica.service}: pulling {model}", total=None)
        last_status = ""
        for line in response.iter_lines():
            if not line.strip():
                continue
            event = json.loads(line)
            if "error" in event:
                raise TaustackError(f"pull {model} on {replica.service}: {event['error']}")
            last_status = str(event.get("status", ""))
            if event.get("total"):
                progress.update(task, total=event["total"], completed=event.get("completed", 0))
            progress.update(task, description=f"{replica.service}: {last_status}")
        if last_status != "success":
            raise TaustackError(f"pull {model} on {replica.service}: ended with {last_status or 'no status'}")


def pull_missing(group: ReplicaGroup, console: Console) -> None:
    """Pull each of the group's models that a replica does not list (`up`, for engines that pull models)."""
    probes = probe_groups([group])
    for model in group.models:
        if any(missing_models(health, [model]) for health in probes):
            pull_model([group], model, console)


def pull_model(groups: Sequence[ReplicaGroup], model: str, console: Console) -> None:
    """Pull through the first replica that answers, then check `/api/tags` on every replica."""
    if not OLLAMA_MODEL_RE.match(model):
        raise SpecError(f"model: {model!r} is not an Ollama model name such as qwen2.5:7b")
    replicas = [replica for group in groups for replica in group.replicas]
    if not replicas:
        raise TaustackError("the stack has no Ollama replicas to pull into")
    answering = [health.replica for health in probe_groups(groups) if health.answered]
    if not answering:
        raise TaustackError("no Ollama replica answers: run `taustack up` first")
    try:
        stream_pull(answering[0], model, console)
    except httpx.HTTPError as exc:
        raise TaustackError(f"pull {model} on {answering[0].service}: {describe_http_error(exc)}") from None
    results = probe_groups(groups)
    missing = [health.replica.service for health in results if missing_models(health, [model_key(model)])]
    if missing:
        raise TaustackError(f"{model} is not listed by {', '.join(missing)} after the pull")
    console.print(f"{model}: on every replica ({', '.join(r.service for r in replicas)})")
