"""The GPU trainer with vLLM (requirements/trainer-vllm.txt) resolves: nothing CUDA can be built here, so pip resolves
the lock for the image's platform (CPython 3.11, manylinux x86_64) with --dry-run against PyPI, and the versions it
picks must be the ones vLLM pins (torch) and TRL supports (vLLM)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.helpers import ROOT

LOCK = ROOT / "requirements" / "trainer-vllm.txt"
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(17, 37)] + ["manylinux2014_x86_64", "linux_x86_64"]


def pins(path: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.\-\[\],]+)==([^\s;\\]+)", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"\[.*\]", "", name).lower(): version for name, version in found}


def test_the_vllm_trainer_shares_trl_and_peft_with_the_cpu_trainer() -> None:
    cpu, gpu = pins(ROOT / "requirements" / "trainer.in"), pins(ROOT / "requirements" / "trainer-vllm.in")
    for name in ("trl", "peft", "datasets", "accelerate", "litellm"):
        assert cpu[name] == gpu[name], name
    assert pins(LOCK)["torch"] == gpu["torch"] == cpu["torch"].split("+")[0]


def test_the_vllm_trainer_lock_resolves_for_the_image_platform(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    argv = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed", "--report",
            str(report), "--only-binary", ":all:", "--require-hashes", "--python-version", "3.11",
            "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none",
            *[arg for platform in PLATFORMS for arg in ("--platform", platform)], "--platform", "any",
            "-r", str(LOCK)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False,
                                env={**os.environ, "PIP_INDEX_URL": "https://pypi.org/simple", "PIP_FIND_LINKS": "",
                                     "PIP_CONSTRAINT": ""})
    except subprocess.TimeoutExpired:
        pytest.fail("pip --dry-run of trainer-vllm.txt took more than 10 minutes")
    if result.returncode != 0 and "NewConnectionError" in result.stderr + result.stdout:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise AssertionError(f"CI=true but PyPI is unreachable: {result.stderr[-500:]}")
        pytest.skip("PyPI is unreachable")
    assert result.returncode == 0, result.stderr[-3000:]
    installed = {item["metadata"]["name"].lower(): item["metadata"] for item in
                 json.loads(report.read_text())["install"]}
    versions = {name: meta["version"] for name, meta in installed.items()}
    assert versions["vllm"] == "0.31.0" and versions["trl"] == "1.16.0"

    def requirement(package: str, name: str, extra: str | None = None) -> Requirement:
        for line in installed[package].get("requires_dist") or []:
            parsed = Requirement(line)
            marker_ok = parsed.marker is None or parsed.marker.evaluate({"extra": extra or ""})
            if parsed.name.lower() == name and marker_ok:
                return parsed
        raise AssertionError(f"{package} does not require {name}")

    assert versions["torch"] in requirement("vllm", "torch").specifier  # vLLM's exact torch pin
    assert versions["transformers"] in requirement("vllm", "transformers").specifier
    assert versions["vllm"] in requirement("trl", "vllm", extra="vllm").specifier  # TRL's supported vLLM range
    assert versions["transformers"] in requirement("trl", "transformers").specifier
    assert versions["torch"] in requirement("peft", "torch").specifier
