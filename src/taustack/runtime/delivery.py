"""What a host needs, delivered from the controller: images by `docker save | docker load` (only those it runs, only
when its copy differs; never rebuilt there), and a GGUF on this machine into the host's models volume (only when its
checksum differs). A path the host must have itself (vLLM's HF cache) is checked, never created."""

from __future__ import annotations

import contextlib
import hashlib
import shlex
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from taustack.runtime.docker import run_docker
from taustack.runtime.images import LOCAL_PREFIX
from taustack.runtime.remote import Host, HostError


def host_images(compose_text: str) -> list[str]:
    """The images a host's rendered compose file runs, in order, once each."""
    document: dict[str, Any] = yaml.safe_load(compose_text) or {}
    return list(dict.fromkeys(str(service["image"]) for service in document.get("services", {}).values()))


def image_id(image: str, host: Host | None = None) -> str | None:
    """The image's ID on `host` (None: this machine), or None when it has no such image."""
    args = ("image", "inspect", "--format", "{{.Id}}", image)
    argv = host.argv(*args) if host else ["docker", *args]
    result = run_docker(argv, capture=True, show=False, check=False)
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


@dataclass(frozen=True)
class ImagePlan:
    """What a host gets: images to send from here, images it already has, images it pulls itself (a registry)."""

    send: tuple[str, ...]
    present: tuple[str, ...]
    pull: tuple[str, ...]


def plan_images(host: Host, images: Iterable[str], local_ids: Mapping[str, str | None]) -> ImagePlan:
    """Compare the host's copies with this machine's. An image neither here nor there is pulled by the host from its
    registry, except taustack's own (no registry has them): that is an error naming `make images`."""
    send, present, pull = [], [], []
    for image in images:
        remote, local = image_id(image, host), local_ids.get(image)
        if local is not None and remote != local:
            send.append(image)
        elif remote is not None:
            present.append(image)
        elif image.startswith(LOCAL_PREFIX):
            raise HostError(host, f"image {image} is neither on this machine nor on the host: run `make images` here")
        else:
            pull.append(image)
    return ImagePlan(tuple(send), tuple(present), tuple(pull))


def send_image(image: str, hosts: Sequence[Host]) -> list[HostError]:
    """`docker save IMAGE | docker -H HOST load` for every host at once, from one save (an image is read from this
    machine's engine once, however many hosts get it); echoed with each host. The hosts whose load failed."""
    with contextlib.ExitStack() as files:
        loaders: list[tuple[Host, subprocess.Popen[bytes], Any]] = []
        for host in hosts:
            argv = host.argv("load", "-q")
            host.echo(f"docker save {shlex.quote(image)} | {shlex.join(argv)}")
            errors = files.enter_context(tempfile.TemporaryFile())
            loaders.append((host, subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                                   stderr=errors), errors))
        saved_errors = files.enter_context(tempfile.TemporaryFile())
        saver = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, stderr=saved_errors)
        feed(saver, [loader for _, loader, _ in loaders])
        saved = saver.wait()
        failed = []
        for host, loader, errors in loaders:
            code = loader.wait()
            if saved != 0:
                failed.append(HostError(host, f"docker save {image} failed: {tail(saved_errors)}"))
            elif code != 0:
                failed.append(HostError(host, f"docker load of {image} failed: {tail(errors)}"))
        return failed


def feed(saver: subprocess.Popen[bytes], loaders: Sequence[subprocess.Popen[bytes]]) -> None:
    """Copy the save's stream to every load that still takes it, then close their inputs."""
    assert saver.stdout is not None
    taking = list(loaders)
    for chunk in iter(lambda: saver.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
        for loader in list(taking):
            try:
                loader.stdin.write(chunk)  # type: ignore[union-attr]
            except BrokenPipeError:  # that load stopped: its own error says why
                taking.remove(loader)
    saver.stdout.close()
    for loader in loaders:
        with contextlib.suppress(BrokenPipeError):
            loader.stdin.close()  # type: ignore[union-attr]


def tail(errors: Any) -> str:
    errors.seek(0)
    return str(errors.read().decode(errors="replace").strip()[-300:])


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def compose_volume(host: Host, project: str, volume: str) -> str:
    """The host's volume of the project as Compose names and labels it (so that `compose up` adopts it)."""
    name = f"{project}_{volume}"
    if host.run("volume", "inspect", name, check=False).returncode != 0:
        host.run("volume", "create", "--label", f"com.docker.compose.project={project}",
                 "--label", f"com.docker.compose.volume={volume}", name, show=True)
    return name


def send_file(host: Host, path: Path, volume: str, image: str, digest: str) -> bool:
    """Put `path` into `volume` on the host (under its own name) unless its copy has the same checksum; True when
    it was sent. `image` runs the copy: one the host has (its gate's)."""
    mount = f"{volume}:/files"
    target = f"/files/{path.name}"
    found = host.run("run", "--rm", "-v", mount, "--entrypoint", "sh", image, "-c",
                     f"sha256sum {shlex.quote(target)} 2>/dev/null || true").stdout.split()
    if found and found[0] == digest:
        return False
    partial = f"/files/.{path.name}.part"
    argv = host.argv("run", "--rm", "-i", "-v", mount, "--entrypoint", "sh", image, "-c",
                     f"cat > {shlex.quote(partial)} && mv {shlex.quote(partial)} {shlex.quote(target)}")
    host.echo(f"{shlex.join(argv)} < {shlex.quote(str(path))}")
    with path.open("rb") as source:
        copied = subprocess.run(argv, stdin=source, capture_output=True, check=False)
    if copied.returncode != 0:
        raise HostError(host, f"copying {path} into volume {volume} failed: "
                              f"{copied.stderr.decode(errors='replace').strip()[-300:]}")
    return True


def require_local(images: Iterable[str]) -> dict[str, str | None]:
    """This machine's ID of each image (None when absent)."""
    return {image: image_id(image) for image in dict.fromkeys(images)}
