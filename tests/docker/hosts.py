"""Simulated hosts for the multi-host tests: containers from tests/docker/simhost (Debian's docker.io and an SSH
server), each with its own Docker Engine (its /var/lib/docker a volume: overlay2 cannot nest on overlayfs), its own
address on a network of their own, and its own cores. The controller reaches them as a user reaches real hosts:
`docker -H ssh://root@ADDRESS`, through ssh with a key and a known_hosts this module writes from each host's own key
(read out of band, never accepted blindly). ssh reads ~/.ssh/config from the passwd home, not $HOME: a wrapper named
ssh first on PATH adds `-F` with this module's config, as a user's ~/.ssh/config would."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.docker.conftest import NGINX_IMAGE, docker
from tests.helpers import ROOT, run_cli, write_stack

IMAGE = "taustack-test/simhost:latest"
# the llama.cpp stack across hosts the multi-host tests share (test_hosts_llamacpp.py, test_hosts_failures.py)
LLAMA_PORT, GATEWAY_PORT, EXPORTER_PORT, PROMETHEUS_PORT = 28180, 28140, 28400, 28090
BASE_IMAGE = os.environ.get("TAUSTACK_TEST_BASE_IMAGE", "taustack/base:bookworm")
# what an inner Docker Engine needs here: --privileged is refused (no CAP_SYS_RESOURCE on this machine)
ENGINE_FLAGS = ("--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
                "--security-opt", "apparmor=unconfined", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run",
                "--shm-size", "1g")


def build_image() -> str:
    docker("build", "-q", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "-t", IMAGE, str(ROOT / "tests" / "docker" /
                                                                                       "simhost"), timeout=900)
    return IMAGE


@dataclass
class SimHost:
    """One simulated host: its container, address and cores."""

    name: str
    container: str
    address: str
    cores: str

    def sh(self, command: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A shell command on the host itself (its network namespace: what listens there, what it reaches)."""
        return docker("exec", self.container, "sh", "-c", command, timeout=timeout, check=check)

    def docker(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The host's own Docker Engine (the test looking at it; the controller goes through ssh)."""
        return docker("exec", self.container, "docker", *args, timeout=timeout, check=check)

    def spec(self, **fields: Any) -> dict[str, Any]:
        """Its entry in a stack file's hosts: section."""
        return {"docker": f"ssh://root@{self.address}", "address": self.address, "cores": self.cores, **fields}


@dataclass
class SimHosts:
    """The hosts, their network, and the ssh files the controller uses to reach them."""

    network: str
    hosts: dict[str, SimHost]
    ssh_dir: Path
    volumes: list[str] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.ssh_dir / 'bin'}:{os.environ['PATH']}"}

    def __getitem__(self, name: str) -> SimHost:
        return self.hosts[name]

    def disconnect(self, name: str) -> None:
        """The host's network gone: no reset reaches anyone, packets to it go nowhere."""
        docker("network", "disconnect", self.network, self.hosts[name].container)

    def reconnect(self, name: str) -> None:
        docker("network", "connect", "--ip", self.hosts[name].address, self.network, self.hosts[name].container)


def start_hosts(prefix: str, names: list[str], subnet: str, ssh_dir: Path, shared: Path) -> SimHosts:
    """Start one simulated host per name on a network of its own, core i for host i (this machine has 2), with
    `shared` mounted at the same path on each (a shared filesystem, as a model folder on NFS)."""
    ssh_dir.mkdir(parents=True, exist_ok=True)
    key = ssh_dir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    network = f"{prefix}-net"
    docker("network", "create", "--subnet", subnet, network)
    cores = sorted(os.sched_getaffinity(0))
    hosts = SimHosts(network, {}, ssh_dir)
    base = subnet.rsplit(".", 1)[0]
    for index, name in enumerate(names):
        container, volume = f"{prefix}-{name}", f"{prefix}-{name}-docker"
        hosts.volumes.append(volume)
        core = str(cores[index % len(cores)])
        address = f"{base}.{10 + index}"
        docker("run", "-d", "--name", container, "--hostname", name, "--network", network, "--ip", address,
               "--cpuset-cpus", core, *ENGINE_FLAGS, "-v", f"{volume}:/var/lib/docker", "-v", f"{shared}:{shared}",
               "-e", f"AUTHORIZED_KEY={(ssh_dir / 'id_ed25519.pub').read_text().strip()}", IMAGE)
        hosts.hosts[name] = SimHost(name, container, address, core)
    for host in hosts.hosts.values():
        wait_for_engine(host)
    write_ssh_files(hosts)
    return hosts


def wait_for_engine(host: SimHost, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while host.sh("docker info >/dev/null 2>&1 && test -s /etc/ssh/ssh_host_ed25519_key.pub", check=False).returncode:
        if time.monotonic() > deadline:
            logs = docker("logs", host.container, check=False)
            raise AssertionError(f"simulated host {host.name} did not start: {logs.stdout[-2000:]}"
                                 f"{logs.stderr[-2000:]}")
        time.sleep(0.5)


def write_ssh_files(hosts: SimHosts) -> None:
    """known_hosts from each host's own key (read from the host, never trusted on first use), a config that checks
    it strictly, and the ssh wrapper that makes the controller's ssh read that config."""
    lines = []
    for host in hosts.hosts.values():
        key = host.sh("cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub").stdout.strip()
        lines.append(f"{host.address} {key}")
    known = hosts.ssh_dir / "known_hosts"
    known.write_text("\n".join(lines) + "\n")
    config = hosts.ssh_dir / "config"
    config.write_text(f"Host *\n  IdentityFile {hosts.ssh_dir / 'id_ed25519'}\n  IdentitiesOnly yes\n"
                      f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n  BatchMode yes\n")
    wrapper = hosts.ssh_dir / "bin" / "ssh"
    wrapper.parent.mkdir(exist_ok=True)
    ssh = shutil.which("ssh")
    assert ssh is not None, "no ssh client on this machine: apt-get install openssh-client (make docker does)"
    wrapper.write_text(f"#!/bin/sh\nexec {ssh} -F {config} \"$@\"\n")
    wrapper.chmod(0o755)


def stop_hosts(hosts: SimHosts) -> None:
    for host in hosts.hosts.values():
        docker("rm", "-f", "-v", host.container, check=False, timeout=120)
    docker("network", "rm", hosts.network, check=False)
    for volume in hosts.volumes:
        docker("volume", "rm", "-f", volume, check=False)


@dataclass
class HostStack:
    """A stack across the simulated hosts, driven by the real CLI under its own project name and generated folder."""

    stack_file: Path
    generated: Path
    project: str
    env_file: Path
    hosts: SimHosts

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, "--stack", str(self.stack_file), "--generated-dir", str(self.generated),
                       "--project-name", self.project, timeout=timeout,
                       env={"TAUSTACK_ENV_FILE": str(self.env_file), **self.hosts.env})

    def token(self) -> str:
        line = next(line for line in self.env_file.read_text().splitlines() if line.startswith("TAUSTACK_API_TOKEN="))
        return line.split("=", 1)[1]

    def secret(self, name: str) -> str:
        return next(line.split("=", 1)[1] for line in self.env_file.read_text().splitlines()
                    if line.startswith(f"{name}="))


def host_stack(folder: Path, name: str, spec: dict[str, Any], hosts: SimHosts) -> HostStack:
    folder.mkdir(parents=True, exist_ok=True)
    return HostStack(write_stack(folder / "stack.yaml", spec), folder / "generated",
                     f"taustack-test-{name}-{os.getpid()}", folder / ".env", hosts)


def remove_stale_hosts() -> None:
    """Simulated hosts a killed test session left behind (taustack-simhost-PID-*, that PID gone)."""
    found = docker("ps", "-a", "--filter", "name=taustack-simhost-", "--format", "{{.Names}}", check=False)
    for name in found.stdout.split():
        pid = name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            prefix = "-".join(name.split("-")[:3])
            docker("rm", "-f", "-v", name, check=False, timeout=120)
            docker("volume", "rm", "-f", f"{name}-docker", check=False)
            docker("network", "rm", f"{prefix}-net", check=False)


def free_subnet() -> str:
    """A /24 no Docker network of this machine uses."""
    used = docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
                  *docker("network", "ls", "-q").stdout.split()).stdout.split()
    for third in range(10, 250):
        subnet = f"10.213.{third}.0/24"
        if subnet not in used:
            return subnet
    raise AssertionError("no free 10.213.x.0/24 subnet for the simulated hosts")


def session_hosts(tmp: Path, shared: Path, names: list[str]) -> Iterator[SimHosts]:
    """Build the image, start the hosts, and always take them down (containers, network, engine volumes)."""
    remove_stale_hosts()
    build_image()
    prefix = f"taustack-simhost-{os.getpid()}"
    hosts = SimHosts(f"{prefix}-net", {}, tmp / "ssh")
    try:
        hosts = start_hosts(prefix, names, free_subnet(), tmp / "ssh", shared)
        yield hosts
    finally:
        stop_hosts(hosts)
        for name in names:  # a start that failed half way
            docker("rm", "-f", "-v", f"{prefix}-{name}", check=False)
            docker("volume", "rm", "-f", f"{prefix}-{name}-docker", check=False)
        docker("network", "rm", f"{prefix}-net", check=False)


def llama_spec(hosts: SimHosts, cache: Path) -> dict[str, Any]:
    """llama.cpp replicas (the tiny model) on a and b; the front door on a, binding a's address; monitoring."""
    a = hosts["a"]
    return {
        "hosts": {"a": a.spec(), "b": hosts["b"].spec()},
        "llamacpp": {"model": str(cache / "tiny" / "tiny.gguf"), "model_name": "tiny", "replicas": 2, "threads": 1,
                     "context_size": 8192, "bind": a.address, "port": LLAMA_PORT},
        "balancer": {"image": NGINX_IMAGE},
        "gateway": {"bind": a.address, "port": GATEWAY_PORT,
                    "models": [{"name": "tiny", "engine": "llamacpp", "model": "tiny"}]},
        "monitoring": {"exporter_port": EXPORTER_PORT, "prometheus_port": PROMETHEUS_PORT, "grafana": False},
    }


def running(stack: HostStack, what: str, timeout: int = 600) -> Iterator[HostStack]:
    """`taustack up` of the stack, timed (a [measure] line saying `what`); always taken down."""
    started = time.monotonic()
    result = stack.cli("up", "--timeout", str(timeout), timeout=timeout + 300)
    try:
        assert result.returncode == 0, result.stderr[-6000:]
        print(f"\n[measure] taustack up across 2 hosts ({what}): {time.monotonic() - started:.0f}s")
        yield stack
    finally:
        stack.cli("down", "--volumes", timeout=300)


def llama_stack(folder: Path, hosts: SimHosts, cache: Path) -> Iterator[HostStack]:
    """llama_spec across the hosts, up (images sent, the GGUF copied) and always taken down."""
    stack = host_stack(folder, "hosts-llama", llama_spec(hosts, cache), hosts)
    yield from running(stack, "images sent, llama.cpp x2, the front door, monitoring")
