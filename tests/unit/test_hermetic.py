"""Unit tests are hermetic (tests/conftest.py): what the real machine holds in its Hugging Face cache, its .env,
its shell's keys or its git checkout cannot change an outcome, in-process or in a `taustack` subprocess."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taustack.planner.layout import find_config
from taustack.secrets import environment, read_env
from taustack.training import jobs, rundir
from taustack.workspace import Workspace
from tests.conftest import STUB_REVISION
from tests.helpers import ROOT, SUBPROCESS_ENV, run_cli

MODEL = "acme/tiny-planner"
CONFIG = json.loads((ROOT / "tests" / "data" / "model_configs.json").read_text())["Qwen/Qwen2.5-7B-Instruct"]["config"]


def fake_machine(folder: Path) -> dict[str, str]:
    """A machine whose HF cache holds MODEL and whose shell carries provider keys: the environment it gives."""
    snapshot = folder / "hf" / "hub" / f"models--{MODEL.replace('/', '--')}" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(CONFIG))
    (folder / "machine.env").write_text("LITELLM_MASTER_KEY=sk-from-the-machine-env-file\n")
    return {"HF_HOME": str(folder / "hf"), "HF_HUB_CACHE": str(folder / "hf" / "hub"),
            "TAUSTACK_ENV_FILE": str(folder / "machine.env"), "OPENAI_API_KEY": "sk-from-the-machine-shell",
            "LITELLM_MASTER_KEY": "sk-from-the-machine-shell", "HF_TOKEN": "hf_from_the_machine"}


def test_the_fake_machine_would_be_seen_without_the_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the probe below means something only if this cache and .env are read when the environment
    points at them."""
    for name, value in fake_machine(tmp_path).items():
        monkeypatch.setenv(name, value)
    assert find_config(MODEL).name == "config.json"
    assert environment(Workspace(ROOT).env_file)["OPENAI_API_KEY"] == "sk-from-the-machine-shell"


def test_a_unit_test_never_sees_the_machine(tmp_path: Path) -> None:
    """Run hermetic_probe.py in a pytest whose environment is the fake machine's: the fixture must hide all of it."""
    env = {**os.environ, **fake_machine(tmp_path), "HERMETIC_PROBE_MACHINE": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(Path(__file__).with_name("hermetic_probe.py"))],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout[-3000:] + result.stderr[-2000:]


def test_the_repo_env_file_is_not_read(tmp_path: Path) -> None:
    """Workspace(root).env_file is a per-test file, never ROOT/.env: a .env in a checkout's root is not read."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".env").write_text("LITELLM_MASTER_KEY=sk-from-the-repo-env\nPROVIDER_KEY=sk-from-the-repo-env\n")
    for root in (ROOT, checkout):
        env_file = Workspace(root).env_file
        assert env_file != root / ".env" and env_file.resolve() == Path(os.environ["TAUSTACK_ENV_FILE"]).resolve()
        assert read_env(env_file) == {} and "PROVIDER_KEY" not in environment(env_file)


def test_key_in_a_subprocess_writes_the_per_test_env_file() -> None:
    """`taustack key` run by run_cli gets the same environment: its key lands in the per-test .env."""
    repo_env = (ROOT / ".env").read_bytes() if (ROOT / ".env").exists() else None
    result = run_cli("key")
    assert result.returncode == 0, result.stderr
    assert read_env(Path(os.environ["TAUSTACK_ENV_FILE"]))["LITELLM_MASTER_KEY"] == result.stdout.strip()
    assert ((ROOT / ".env").read_bytes() if (ROOT / ".env").exists() else None) == repo_env


def test_the_hf_cache_is_empty_and_per_test() -> None:
    hub = Path(os.environ["HF_HUB_CACHE"])
    assert hub.parent == Path(os.environ["HF_HOME"]) and not hub.exists()
    assert not Path(os.environ["HF_HOME"]).resolve().is_relative_to(Path.home() / ".cache")


def test_the_git_revision_is_a_stub_in_process_and_absent_in_a_subprocess() -> None:
    assert jobs.git_revision(ROOT) == STUB_REVISION == rundir.git_revision(ROOT)
    no_git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False,
                            env={**os.environ, **SUBPROCESS_ENV})
    assert no_git.returncode != 0


def test_the_real_git_revision_reads_a_checkout(tmp_path: Path) -> None:
    """The function the stub stands in for, on a repository made here."""
    real = inspect.unwrap(rundir.git_revision)
    assert real is not rundir.git_revision and real(tmp_path) is None

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    (tmp_path / "f").write_text("1")
    git("add", "f")
    git("commit", "-q", "-m", "one")
    clean = real(tmp_path)
    assert clean is not None and len(clean) == 40
    (tmp_path / "f").write_text("2")
    assert real(tmp_path) == clean + "-dirty"
