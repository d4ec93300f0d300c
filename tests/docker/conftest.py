"""Docker fixtures: locally built images (no registry) and a running stack of fake Ollama replicas."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from taustack import versions
from tests.helpers import ROOT, run_cli, write_stack

NGINX_IMAGE = os.environ.get("TAUSTACK_TEST_NGINX_IMAGE", "taustack/nginx:bookworm")
PYTHON_IMAGE = os.environ.get("TAUSTACK_TEST_PYTHON_IMAGE", "taustack/python:bookworm")
FAKE_OLLAMA_IMAGE = "taustack-test/fake-ollama:latest"
TRAINER_IMAGE = os.environ.get("TAUSTACK_TEST_TRAINER_IMAGE", "taustack/trainer:cpu")
PREFIX = "taustack-train-test"  # trainer containers and served stacks of the training tests


def docker(*args: str, timeout: float = 300, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False,
                            env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr[-2000:]}")
    return result


@pytest.fixture(scope="session")
def base_images() -> None:
    """The Debian-built images (scripts/images-offline.sh); built here if `make test` did not."""
    missing = docker("image", "inspect", NGINX_IMAGE, PYTHON_IMAGE, check=False).returncode != 0
    if missing:
        subprocess.run([str(ROOT / "scripts" / "images-offline.sh")], check=True, timeout=900)


@pytest.fixture(scope="session")
def fake_ollama_image(base_images: None) -> str:
    docker("build", "-q", "--build-arg", f"BASE_IMAGE={PYTHON_IMAGE}", "-t", FAKE_OLLAMA_IMAGE,
           "-f", str(ROOT / "tests" / "fakes" / "ollama" / "Dockerfile"), str(ROOT / "tests" / "fakes"))
    return FAKE_OLLAMA_IMAGE


@dataclass
class RunningStack:
    """A stack started by `taustack up` under its own project name, ports and generated folder."""

    stack_file: Path
    generated: Path
    project: str
    port: int
    replicas: int
    up_seconds: float
    env_file: Path | None = None

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = {"TAUSTACK_ENV_FILE": str(self.env_file)} if self.env_file else None
        return run_cli(*args, "--stack", str(self.stack_file), "--generated-dir", str(self.generated),
                       "--project-name", self.project, timeout=timeout, env=env)

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = ["compose", "--project-directory", str(ROOT), "-p", self.project, "-f", str(ROOT / "compose.yaml"),
                "-f", str(self.generated / "compose.yaml"), "--profile", "*"]
        if self.env_file:
            argv += ["--env-file", str(self.env_file)]
        return docker(*argv, *args, timeout=timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def replica_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.port + 1 + index}"


def start_stack(folder: Path, name: str, spec: dict[str, Any], port: int, replicas: int,
                env_file: Path | None = None, timeout: int = 180) -> RunningStack:
    """`taustack up` a stack under its own project name, generated folder and ports; timed."""
    stack_file = write_stack(folder / "stack.yaml", spec)
    stack = RunningStack(stack_file, folder / "generated", f"taustack-test-{name}-{os.getpid()}", port, replicas,
                         0.0, env_file)
    started = time.monotonic()
    result = stack.cli("up", "--timeout", str(timeout))
    stack.up_seconds = time.monotonic() - started
    if result.returncode != 0:
        stack.cli("down", "--volumes")
        raise AssertionError(f"taustack up failed:\n{result.stderr[-4000:]}")
    return stack


@pytest.fixture(scope="module")
def ollama_stack(tmp_path_factory: pytest.TempPathFactory, fake_ollama_image: str) -> Iterator[RunningStack]:
    """3 fake Ollama replicas behind the real nginx, started with `taustack up` (models pulled, ready)."""
    spec = {
        "ollama": {
            "image": fake_ollama_image, "replicas": 3, "port": 21434, "models": ["qwen2.5:0.5b"],
            "env": {"extra": {"FAKE_TOKEN_DELAY_MS": "20", "FAKE_PULL_DELAY_MS": "300"}},
        },
        "balancer": {"image": NGINX_IMAGE},
    }
    stack = start_stack(tmp_path_factory.mktemp("ollama-stack"), "ollama", spec, 21434, 3)
    try:
        print(f"\n[measure] taustack up -> ready, 3 fake Ollama replicas: {stack.up_seconds:.1f}s")
        yield stack
    finally:
        stack.cli("down", "--volumes", timeout=120)


def left_behind(project: str) -> bool:
    """A test project (taustack-test-NAME-PID) whose pytest process is gone; a running one is left alone."""
    if not project.startswith(("taustack-test-", "taustack-fail-")):
        return False
    pid = project.rsplit("-", 1)[-1]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@pytest.fixture(scope="session", autouse=True)
def remove_stale_test_stacks() -> None:
    """Containers a killed test run left behind (restart policies bring them back with dockerd)."""
    result = docker("ps", "-a", "--filter", "label=io.taustack.engine", "--format",
                    '{{.ID}} {{.Label "com.docker.compose.project"}}', check=False)
    stale = [line.split()[0] for line in result.stdout.splitlines()
             if len(line.split()) == 2 and left_behind(line.split()[1])]
    if stale:
        docker("rm", "-f", *stale, check=False)


VLLM_CPU_IMAGE = os.environ.get("TAUSTACK_TEST_VLLM_IMAGE", versions.VLLM_CPU_IMAGE)
VLLM_TINY = "/root/.cache/huggingface/tiny/hf"  # the tiny model inside a vLLM container (its HF cache: vllm_cache)


@pytest.fixture(scope="session")
def vllm_cpu_image(base_images: None) -> str:
    """vLLM's CPU build (scripts/images.sh WITH_VLLM=1); built here when `make test` did not."""
    if docker("image", "inspect", VLLM_CPU_IMAGE, check=False).returncode != 0:
        subprocess.run([str(ROOT / "scripts" / "images.sh")], check=True, timeout=1800,
                       env={**os.environ, "WITH_VLLM": "1"})
    return VLLM_CPU_IMAGE


@pytest.fixture(scope="session")
def vllm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host folder every real-vLLM test mounts as the HF cache: the tiny model (head_dim 64) at tiny/hf, and the
    compile caches vLLM writes there (a second start of a layout skips torch.compile)."""
    cache = tmp_path_factory.mktemp("vllm-cache")
    result = run_cli("model", "tiny", str(cache / "tiny"), env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    return cache


def vllm_section(cache: Path, **fields: object) -> dict[str, object]:
    """A vllm: section serving the tiny model on the CPU, exactly (float32), with a small KV cache."""
    return {"model": VLLM_TINY, "served_model_name": "tiny", "config": str(cache / "tiny" / "hf" / "config.json"),
            "hf_cache": str(cache), "dtype": "float32", "max_model_len": 4096, "kv_cache_gib": 1,
            "tool_call_parser": "hermes", **fields}


@pytest.fixture(scope="module")
def trainer_image() -> str:
    """The CPU trainer (scripts/images.sh builds it); built here when `make test` did not."""
    if docker("image", "inspect", TRAINER_IMAGE, check=False).returncode != 0:
        subprocess.run([str(ROOT / "scripts" / "images.sh")], check=True, timeout=1800,
                       env={**os.environ, "WITH_TRAINER": "1"})
    return TRAINER_IMAGE


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    result = run_cli("model", "tiny", str(out), env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    return out / "hf"


def serve_and_ask(folder: Path, gguf: Path, name: str, question: str) -> None:
    """Serve a trained GGUF with llama.cpp (`taustack up` under a taustack-train-test-* project, which other
    sessions' stale-stack cleanup leaves alone), ask it one chat completion, take the stack down."""
    import httpx

    folder.mkdir()
    spec = {"llamacpp": {"model": str(gguf), "model_name": name, "replicas": 1, "threads": 1, "context_size": 2048,
                         "port": 28380},
            "balancer": {"image": NGINX_IMAGE}}
    stack = RunningStack(write_stack(folder / "stack.yaml", spec), folder / "generated",
                         f"{PREFIX}-serve-{os.getpid()}", 28380, 1, 0.0)
    try:
        result = stack.cli("up", "--timeout", "180")
        assert result.returncode == 0, f"taustack up failed:\n{result.stderr[-4000:]}"
        body = {"model": name, "messages": [{"role": "user", "content": question}], "max_tokens": 16}
        response = httpx.post(f"{stack.url}/v1/chat/completions", json=body, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json()["usage"]["completion_tokens"] > 0
    finally:
        stack.cli("down")


@pytest.fixture(scope="session")
def sim_hosts(tmp_path_factory: pytest.TempPathFactory, vllm_cache: Path) -> Iterator[Any]:
    """Two simulated hosts, a and b (tests/docker/hosts.py), each with its own Docker Engine, SSH server, address
    and core, the vLLM cache folder mounted at the same path on both (a shared filesystem)."""
    from tests.docker.hosts import session_hosts

    yield from session_hosts(tmp_path_factory.mktemp("hosts"), vllm_cache, ["a", "b"])


@pytest.fixture(scope="session")
def llama_hosts(tmp_path_factory: pytest.TempPathFactory, sim_hosts: Any, vllm_cache: Path) -> Iterator[Any]:
    """llama.cpp replicas on hosts a and b behind one front door on a (tests/docker/hosts.py: llama_spec), shared by
    the multi-host tests; the failure tests leave it as they found it."""
    from tests.docker.hosts import llama_stack

    yield from llama_stack(tmp_path_factory.mktemp("hosts-llama"), sim_hosts, vllm_cache)
