"""The CLI as a user runs it: exit codes 0/1/2, one-line errors, overrides, rendered files on disk."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_cli, write_stack


def test_render_writes_generated_files_once(tmp_path: Path) -> None:
    gen = tmp_path / "gen"
    first = run_cli("render", "--generated-dir", str(gen), "--gpus", "2")
    assert first.returncode == 0, first.stderr
    assert (gen / "compose.yaml").is_file() and (gen / "nginx" / "ollama.conf").is_file()
    assert "rendered" in first.stderr
    second = run_cli("render", "--generated-dir", str(gen), "--gpus", "2")
    assert second.returncode == 0 and "up to date" in second.stderr
    services = yaml.safe_load((gen / "compose.yaml").read_text())["services"]
    assert sorted(services) == ["gateway", "ollama-0", "ollama-1", "ollama-balancer", "ollama-router"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--gpus", "x"], "ollama.gpus"),
        (["--gpu-ids", "1,zz"], "ollama.gpu_ids"),
        (["--replicas", "0"], "ollama.replicas"),
        (["--gpus", "4", "--replicas", "3"], "ollama.replicas"),
    ],
)
def test_bad_overrides_exit_1_with_one_line_naming_the_field(tmp_path: Path, args: list[str], field: str) -> None:
    gen = tmp_path / "gen"
    result = run_cli("render", "--generated-dir", str(gen), *args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {field}: "), result.stderr
    assert "Traceback" not in result.stderr
    assert not gen.exists(), "nothing may be written for an invalid spec"


def test_bad_stack_file_exits_1(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "s.yaml", {"ollama": {"bind": "everywhere"}})
    result = run_cli("render", "--stack", str(stack), "--generated-dir", str(tmp_path / "gen"))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ollama.bind: 'everywhere' is not an IP address")


def test_usage_errors_exit_2() -> None:
    assert run_cli("render", "--no-such-flag").returncode == 2
    assert run_cli("pull").returncode == 2
    assert run_cli("frobnicate").returncode == 2
    both = run_cli("render", "--gpus", "2", "--gpu-ids", "1")
    assert both.returncode == 2 and "either --gpus or --gpu-ids" in both.stderr


def test_schema_is_json_schema_of_the_stack_file() -> None:
    result = run_cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    ollama = schema["$defs"]["OllamaSpec"]["properties"]
    assert {"gpus", "gpu_ids", "gpus_per_replica", "replicas", "image", "env", "models", "port", "bind"} <= set(ollama)


def test_gpus_all_counts_gpus_with_nvidia_smi(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\n" + "".join(f"echo 'GPU {i}: NVIDIA H100 (UUID: GPU-{i}aaaaaaa)'\n" for i in range(3)))
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    gen = tmp_path / "gen"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = run_cli("render", "--gpus", "all", "--generated-dir", str(gen), env=env)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load((gen / "compose.yaml").read_text())["services"]
    assert [services[f"ollama-{i}"]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
            for i in range(3)] == [["0"], ["1"], ["2"]]


@pytest.mark.parametrize(("content", "message"), [(None, "cannot read the task file"), ("[", "not JSON"),
                                                  ("[]", "non-empty JSON list")])
def test_model_score_refuses_a_bad_heldout_file_before_serving(tmp_path: Path, content: str | None,
                                                                message: str) -> None:
    gguf, heldout = tmp_path / "model.gguf", tmp_path / "heldout.json"
    gguf.write_bytes(b"GGUF")
    if content is not None:
        heldout.write_text(content)
    out = tmp_path / "o"
    result = run_cli("model", "score", str(gguf), "--name", "m", "--heldout", str(heldout), "--out", str(out))
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(heldout) in lines[0] and message in lines[0], result.stderr
    assert not out.exists()
