"""Run a trainer container through the Docker SDK: GPUs, mounts, labels, logs streamed, exit code surfaced."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from taustack.training.recipe import TrainingError

RUN_LABEL = "io.taustack.run"
KIND_LABEL = "io.taustack.kind"
CONTAINER_PREFIX_ENV = "TAUSTACK_TRAIN_CONTAINER_PREFIX"
PASSED_ENV = ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_ENDPOINT", "TRANSFORMERS_OFFLINE")
OOM_EXIT = 137


@dataclass(frozen=True)
class Mount:
    host: Path
    container: str
    read_only: bool = True


@dataclass(frozen=True)
class Job:
    """Everything a trainer container is started with; container_options() turns it into Docker SDK arguments."""

    run_id: str
    kind: str  # train | export
    image: str
    command: list[str]
    mounts: list[Mount]
    devices: tuple[str, ...] = ()
    shm_size: str | None = "8g"
    ipc_host: bool = False
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None

    @property
    def name(self) -> str:
        prefix = os.environ.get(CONTAINER_PREFIX_ENV, "taustack-train")
        return f"{prefix}-{self.run_id}" + ("" if self.kind == "train" else f"-{self.kind}")


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    oom_killed: bool
    stopped: bool = False

    @property
    def state(self) -> str:
        return "stopped" if self.stopped else ("finished" if self.exit_code == 0 else "failed")

    def describe(self) -> str:
        if self.stopped:
            return "stopped by Ctrl-C"
        if self.oom_killed:
            return f"killed: out of memory (OOMKilled, exit code {self.exit_code})"
        if self.exit_code == OOM_EXIT:
            return "killed (exit code 137: SIGKILL, often the kernel's OOM killer or `docker kill`)"
        return f"exit code {self.exit_code}"


def passed_environment() -> dict[str, str]:
    """Hugging Face settings of this shell that the container honours (HF_HUB_OFFLINE when set)."""
    return {name: os.environ[name] for name in PASSED_ENV if os.environ.get(name)}


def container_user() -> str | None:
    """Run as the host user so the run directory stays theirs (root stays root)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return None if uid == 0 else f"{uid}:{os.getgid()}"


def container_options(job: Job) -> dict[str, Any]:
    """Keyword arguments for `client.containers.run` (pure: unit-tested without Docker)."""
    from docker.types import DeviceRequest

    options: dict[str, Any] = {
        "image": job.image,
        "command": job.command,
        "name": job.name,
        "detach": True,
        "labels": {RUN_LABEL: job.run_id, KIND_LABEL: job.kind},
        "environment": {"PYTHONUNBUFFERED": "1", "HOME": "/tmp", "HF_HOME": "/cache/huggingface", **job.env},
        "volumes": {str(m.host): {"bind": m.container, "mode": "ro" if m.read_only else "rw"} for m in job.mounts},
        "working_dir": "/work",
    }
    if job.devices:
        options["device_requests"] = [DeviceRequest(device_ids=list(job.devices), capabilities=[["gpu"]])]
    if job.ipc_host:
        options["ipc_mode"] = "host"
    elif job.shm_size:
        options["shm_size"] = job.shm_size
    if job.devices:
        options["ulimits"] = [_ulimit("memlock", -1), _ulimit("stack", 67108864)]
    if job.user:
        options["user"] = job.user
    return options


def _ulimit(name: str, limit: int) -> Any:
    from docker.types import Ulimit

    return Ulimit(name=name, soft=limit, hard=limit)


def docker_client() -> Any:
    try:
        import docker
    except ImportError:  # pragma: no cover - a dependency of taustack
        raise TrainingError("the docker package is missing: pip install 'docker>=7'") from None
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as exc:
        raise TrainingError(f"cannot reach the Docker Engine ({exc})") from None
    return client


def check_image(client: Any, image: str) -> None:
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        hint = ("scripts/images.sh builds taustack/trainer:cpu" if image.endswith(":cpu") else
                "docker build -f docker/trainer.Dockerfile -t " + image + " .")
        raise TrainingError(f"trainer image {image} not found: {hint}") from None


def _decode(chunks: Iterator[bytes]) -> Iterator[str]:
    for chunk in chunks:
        yield chunk.decode("utf-8", errors="replace")


def run_job(client: Any, job: Job, out: TextIO = sys.stdout) -> Outcome:
    """Start the container, stream its logs, wait; Ctrl-C stops it. The container is removed afterwards."""
    import docker

    try:
        container = client.containers.run(**container_options(job))
    except docker.errors.APIError as exc:
        raise TrainingError(f"cannot start {job.name}: {exc.explanation or exc}") from None
    try:
        for text in _decode(container.logs(stream=True, follow=True)):
            out.write(text)
            out.flush()
        status = container.wait()
        container.reload()
        state = container.attrs.get("State", {})
        return Outcome(int(status.get("StatusCode", state.get("ExitCode", 1))), bool(state.get("OOMKilled")))
    except KeyboardInterrupt:
        container.stop(timeout=10)
        return Outcome(130, False, stopped=True)
    finally:
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)


def running_runs(client: Any) -> dict[str, str]:
    """run id -> container state, for trainer containers that still exist."""
    found: dict[str, str] = {}
    for container in client.containers.list(all=True, filters={"label": f"{KIND_LABEL}=train"}):
        run_id = container.labels.get(RUN_LABEL)
        if run_id:
            found[run_id] = container.status
    return found
