"""The trainer-specific layer over runtime.docker: a Job (run id, mounts, GPUs) -> the container spec it runs."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from taustack.runtime import docker as runtime_docker
from taustack.runtime.docker import (
    ContainerSpec,
    Volume,
    containers_with_label,
    run_container,
    sdk_image_exists,
    sdk_options,
)
from taustack.training.recipe import TrainingError

RUN_LABEL = "io.taustack.run"
KIND_LABEL = "io.taustack.kind"
CONTAINER_PREFIX_ENV = "TAUSTACK_TRAIN_CONTAINER_PREFIX"
PASSED_ENV = ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_ENDPOINT", "TRANSFORMERS_OFFLINE")
OOM_EXIT = 137


Mount = Volume  # a host path mounted into the trainer's container


@dataclass(frozen=True)
class Job:
    """Everything a trainer container is started with; container_spec() turns it into a ContainerSpec."""

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
    network: str | None = None

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


def container_spec(job: Job) -> ContainerSpec:
    """The trainer's container: its labels, environment, mounts, GPUs, shared memory and ulimits."""
    return ContainerSpec(
        image=job.image, command=tuple(job.command), name=job.name,
        labels={RUN_LABEL: job.run_id, KIND_LABEL: job.kind},
        environment={"PYTHONUNBUFFERED": "1", "HOME": "/tmp", "HF_HOME": "/cache/huggingface", **job.env},
        volumes=tuple(job.mounts),
        gpus=job.devices, shm_size=job.shm_size, ipc_host=job.ipc_host,
        ulimits=(("memlock", -1), ("stack", 67108864)) if job.devices else (),
        user=job.user, working_dir="/work", network=job.network,
    )


def container_options(job: Job) -> dict[str, Any]:
    """Keyword arguments for `client.containers.run` (pure: unit-tested without Docker)."""
    return sdk_options(container_spec(job))


def docker_client() -> Any:
    """The SDK client (a DockerError when the Engine does not answer); patched out by tests."""
    return runtime_docker.docker_client()


def check_network(client: Any, network: str) -> None:
    """The network a run joins must exist (a stack's compose network exists while the stack is up)."""
    try:
        client.networks.get(network)
    except Exception as exc:  # docker.errors.NotFound, or the Engine's error
        if type(exc).__name__ == "NotFound":
            raise TrainingError(f"environment.user.network: Docker network {network!r} does not exist: start the "
                                f"stack that serves the user simulator (taustack up) or name its network") from None
        raise


def check_image(client: Any, image: str) -> None:
    if not sdk_image_exists(client, image):
        hint = ("scripts/images.sh builds taustack/trainer:cpu" if image.endswith(":cpu") else
                "docker build -f docker/trainer.Dockerfile -t " + image + " .")
        raise TrainingError(f"trainer image {image} not found: {hint}")


def run_job(client: Any, job: Job, out: TextIO = sys.stdout) -> Outcome:
    """Start the container (its `docker run` line echoed), stream its logs, wait; Ctrl-C stops it. Removed after."""
    ended = run_container(client, container_spec(job), out)
    return Outcome(ended.exit_code, ended.oom_killed, ended.stopped)


def running_runs(client: Any) -> dict[str, str]:
    """run id -> container state, for trainer containers that still exist."""
    found: dict[str, str] = {}
    for labels, status in containers_with_label(client, f"{KIND_LABEL}=train"):
        if labels.get(RUN_LABEL):
            found[labels[RUN_LABEL]] = status
    return found
