"""vLLM 0.31.0 itself (taustack/vllm-cpu) checks what taustack hands it: every argv `render` writes and the static
profiles' commands parse with vLLM's own `serve` CLI, the parser lists and the CPU head sizes are the image's, and
TP=2 (the vllm: section) and PP=2 (the static vllm-pp profile on the CPU) give the same greedy tokens as TP=1."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from taustack.render.stack import render_stack
from taustack.stackfile.resolve import resolve_stack
from taustack.stackfile.stack import StackSpec
from taustack.stackfile.vllm import CPU_HEAD_SIZES, REASONING_PARSERS, TOOL_CALL_PARSERS
from taustack.workspace import Workspace
from tests.docker.conftest import NGINX_IMAGE, VLLM_TINY, RunningStack, docker, start_stack, vllm_section
from tests.golden.test_golden import CASES
from tests.helpers import ROOT

pytestmark = pytest.mark.docker

CHECKS = ROOT / "tests" / "docker" / "vllm_cpu"
PORT, PROFILE_PORT = 27850, 27900
REFERENCE: dict[str, list[str]] = {}  # TP=1's greedy texts, once measured
PROMPTS = ["hi", "Create a task called 'Important Meeting' for user_1.", "update the status of task_2 to completed",
           "The quick brown fox"]
REGISTRIES = """
import json
from vllm.reasoning import ReasoningParserManager
from vllm.tool_parsers import ToolParserManager
from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend
print(json.dumps({"tool": sorted(ToolParserManager.list_registered()),
                  "reasoning": sorted(ReasoningParserManager.list_registered()),
                  "head_sizes": CPUAttentionBackend.get_supported_head_sizes()}))
"""


def in_image(image: str, *argv: str, stdin: str | None = None, timeout: float = 600) -> Any:
    """Run python in the vLLM image with tests/docker/vllm_cpu (and the chat templates) mounted; the last stdout line
    as JSON."""
    templates = ROOT / "training" / "chat_templates"  # a --chat-template must be a file vLLM can read
    mounts = ["-v", f"{CHECKS}:/check:ro", "-v", f"{templates}:/templates:ro"]
    result = subprocess.run(["docker", "run", "--rm", "-i", *mounts, "--entrypoint", "python3", image, *argv],
                            input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_parser_lists_and_cpu_head_sizes_are_the_images(vllm_cpu_image: str) -> None:
    found = in_image(vllm_cpu_image, "-c", REGISTRIES)
    assert sorted(TOOL_CALL_PARSERS) == found["tool"]
    assert sorted(REASONING_PARSERS) == found["reasoning"]
    assert list(CPU_HEAD_SIZES) == found["head_sizes"]


def rendered_commands(tmp_path: Path) -> list[list[str]]:
    """The argv of every vLLM replica `render` writes for the golden stacks and a CPU stack with every flag."""
    cases = {name: case for name, case in CASES.items() if "vllm" in case}
    cases["cpu-everything"] = {"vllm": {
        "model": "/models/m", "served_model_name": "m", "replicas": 1, "tensor_parallel": 2, "dtype": "float32",
        "max_model_len": 4096, "max_num_seqs": 8, "quantization": "fp8",
        "chat_template": "/templates/chatml-tools.jinja", "tool_call_parser": "qwen3_xml", "reasoning_parser": "qwen3",
        "enable_lora": True, "lora_modules": {"a": "/adapters/a"}, "extra_args": ["--enforce-eager"]}}
    commands = []
    for name, case in cases.items():
        resolved = resolve_stack(StackSpec.model_validate(case), inventory=lambda: [str(i) for i in range(8)],
                                 core_inventory=lambda: tuple(range(8)))
        files = render_stack(resolved, Workspace(ROOT), tmp_path / f"{name}.yaml").files
        services = yaml.safe_load(files["compose.yaml"])["services"]
        commands += [service["command"] for key, service in services.items() if key.startswith("vllm-")
                     and "balancer" not in key and "router" not in key]
    assert len(commands) >= 8
    return commands


def profile_commands(*files: str) -> list[list[str]]:
    """The static profiles' commands with their .env defaults, as `docker compose config` resolves them."""
    argv = ["compose", "--project-directory", str(ROOT), *(f for name in files for f in ("-f", str(ROOT / name))),
            "--profile", "*", "config", "--format", "json"]
    services = json.loads(docker(*argv, env={"COMPOSE_PROFILES": ""}).stdout)["services"]
    return [services[name]["command"] for name in ("vllm-tp", "vllm-pp", "vllm-dp")]


def test_every_argv_taustack_writes_parses_in_vllm(vllm_cpu_image: str, tmp_path: Path) -> None:
    """vLLM's own `serve` parser and validation, and its parser lookups: a renamed or removed flag or parser fails
    here. The last argv is known bad, so the check is seen to fail."""
    commands = [*rendered_commands(tmp_path), *profile_commands("compose.yaml"),
                *profile_commands("compose.yaml", "compose/vllm-cpu.yaml")]
    bad = ["m", "--tool-call-parser", "minimax", "--enable-auto-tool-choice"]  # a name 0.31.0 dropped
    results = in_image(vllm_cpu_image, "/check/check_argv.py", stdin=json.dumps([*commands, bad]))
    failed = [(r["argv"], r["error"]) for r in results[:-1] if not r["ok"]]
    assert failed == [], failed
    assert not results[-1]["ok"] and "Tool parser 'minimax' not found" in results[-1]["error"][0]


def greedy(url: str, headers: dict[str, str] | None = None) -> list[str]:
    """Greedy completions of PROMPTS (the raw prompts: no template, no parser in the way)."""
    texts = []
    with httpx.Client(timeout=120, trust_env=False) as client:
        for prompt in PROMPTS:
            answer = client.post(f"{url}/v1/completions", headers=headers or {},
                                 json={"model": "tiny", "prompt": prompt, "max_tokens": 16, "temperature": 0})
            assert answer.status_code == 200, answer.text
            texts.append(answer.json()["choices"][0]["text"])
    return texts


@pytest.fixture(scope="module")
def section(tmp_path_factory: pytest.TempPathFactory, vllm_cpu_image: str,
            vllm_cache: Path) -> Iterator[Any]:
    """`taustack up` of a one-replica vllm: section on the CPU, for a layout; taken down after."""
    stacks: list[RunningStack] = []

    def start(name: str, **fields: object) -> RunningStack:
        spec = {"vllm": vllm_section(vllm_cache, replicas=1, port=PORT, tool_check="warn", **fields),
                "balancer": {"image": NGINX_IMAGE}}
        stack = start_stack(tmp_path_factory.mktemp(name), f"vllm-{name}", spec, PORT, 1, timeout=900)
        stacks.append(stack)
        print(f"\n[measure] taustack up -> ready, vLLM {name} on the CPU: {stack.up_seconds:.1f}s")
        return stack

    try:
        yield start
    finally:
        for stack in stacks:
            stack.cli("down", "--volumes")


def test_tensor_parallel_2_gives_the_tokens_of_one_rank(section: Any) -> None:
    """TP=1 then TP=2 (ranks bound to cores 0 and 1), through the balancer; the TP=2 group also runs the qwen3
    reasoning parser, which the conformance check names for swallowing forced calls."""
    reference = tp1_reference(section)
    two = section("tp2", tensor_parallel=2, reasoning_parser="qwen3")
    compose = yaml.safe_load((two.generated / "compose.yaml").read_text())["services"]["vllm-0"]
    assert compose["environment"]["VLLM_CPU_OMP_THREADS_BIND"] == "0|1" and compose["cpuset"] == "0-1"
    assert greedy(two.url) == reference
    rows = {row["service"]: row for row in json.loads(two.cli("status", "--json").stdout)}
    assert "the reasoning parser took the whole answer" in rows["vllm-tool-calls"]["problem"], rows


def tp1_reference(section: Any) -> list[str]:
    """TP=1's greedy texts (one replica, one core), measured once and taken down before the next layout starts."""
    if "tp1" not in REFERENCE:
        one = section("tp1")
        REFERENCE["tp1"] = greedy(one.url)
        one.cli("down", "--volumes")
    return REFERENCE["tp1"]


def test_pipeline_parallel_2_static_profile_on_the_cpu(section: Any, vllm_cache: Path, vllm_cpu_image: str) -> None:
    """The static vllm-pp profile with compose/vllm-cpu.yaml (the CPU image, no GPU reservation): PP=2 over two
    ranks bound to cores 0 and 1 gives TP=1's tokens."""
    reference = tp1_reference(section)
    env_file = vllm_cache.parent / "pp.env"
    env_file.write_text("\n".join([
        f"VLLM_MODEL={VLLM_TINY}", "VLLM_SERVED_NAME=tiny", "VLLM_PP=2", f"VLLM_PORT={PROFILE_PORT}",
        f"VLLM_HF_CACHE={vllm_cache}", "VLLM_DTYPE=float32", "VLLM_MAX_MODEL_LEN=4096", "VLLM_CPU_KVCACHE_SPACE=1",
        "VLLM_CPU_OMP_THREADS_BIND=0|1", f"VLLM_CPU_IMAGE={vllm_cpu_image}"]) + "\n")
    project = f"taustack-test-pp-{os.getpid()}"
    compose = ["compose", "--project-directory", str(ROOT), "-p", project, "-f", str(ROOT / "compose.yaml"), "-f",
               str(ROOT / "compose" / "vllm-cpu.yaml"), "--env-file", str(env_file), "--profile", "vllm-pp"]
    try:
        docker(*compose, "up", "-d", "--wait", "--wait-timeout", "900", timeout=960)
        assert greedy(f"http://127.0.0.1:{PROFILE_PORT}") == reference
    finally:
        docker(*compose, "down", "--volumes", check=False)
