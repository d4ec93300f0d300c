"""Shared test setup: the golden-file switch, the Docker gate (skipped without Docker, never in CI), and a
hermetic environment for unit and golden tests (no real Hugging Face cache, .env, provider key or git revision)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import helpers

ROOT = Path(__file__).resolve().parents[1]
HERMETIC_DIRS = (ROOT / "tests" / "unit", ROOT / "tests" / "golden")
STUB_REVISION = "0" * 39 + "1"
# what a developer's shell may carry that would change a unit test's outcome: keys, tokens, checkout overrides
LEAKY_ENV = re.compile(r"(_API_KEY|_API_TOKEN|_TOKEN|_SECRET)$|^(LITELLM_|TAUSTACK_|HF_|HUGGING_FACE_)")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden from the renderer")


def docker_available() -> tuple[bool, str]:
    if shutil.which("docker") is None:
        return False, "no docker client on PATH"
    for argv in (["docker", "info"], ["docker", "compose", "version"]):
        try:
            result = subprocess.run(argv, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"`{' '.join(argv)}` failed: {exc}"
        if result.returncode != 0:
            return False, f"`{' '.join(argv)}` exited {result.returncode}"
    return True, ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    docker_items = [item for item in items if item.get_closest_marker("docker")]
    if not docker_items:
        return
    ok, reason = docker_available()
    if ok:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise pytest.UsageError(f"CI=true but Docker is not usable ({reason}): docker tests must run in CI")
    for item in docker_items:
        item.add_marker(pytest.mark.skip(reason=f"Docker not available: {reason}"))


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def is_hermetic(path: Path) -> bool:
    """Unit and golden tests run hermetic; docker tests use the real machine on purpose."""
    return any(path.is_relative_to(folder) for folder in HERMETIC_DIRS)


def make_hermetic(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Point every outside input at FOLDER: an empty HF cache, an empty .env, no provider keys, a stub revision.

    Subprocesses (tests.helpers.run_cli, fake servers) inherit the environment; git inside a `taustack` run
    started by run_cli sees no repository (GIT_DIR names an empty folder), so it records no revision."""
    for name in [name for name in os.environ if LEAKY_ENV.search(name)]:
        monkeypatch.delenv(name)
    hf_home = folder / "hf-home"
    hf_home.mkdir(parents=True, exist_ok=True)
    env_file = folder / "taustack.env"
    env_file.touch()
    no_git = folder / "no-git"
    no_git.mkdir(exist_ok=True)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TAUSTACK_ENV_FILE", str(env_file))
    monkeypatch.setitem(helpers.SUBPROCESS_ENV, "GIT_DIR", str(no_git))
    stub_git_revision(monkeypatch)


def stub_git_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    """rundir.git_revision, and every loaded taustack module that imported it, answers STUB_REVISION."""
    from taustack.training import rundir

    original = rundir.git_revision

    def git_revision(root: Path) -> str | None:
        return STUB_REVISION

    git_revision.__wrapped__ = original  # type: ignore[attr-defined]  # inspect.unwrap finds the real one
    for name, module in list(sys.modules.items()):
        if name.startswith("taustack") and getattr(module, "git_revision", None) is original:
            monkeypatch.setattr(module, "git_revision", git_revision)


def hermetic_scope(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The body of both hermetic fixtures: unit and golden tests only (docker tests use the real machine)."""
    if not is_hermetic(Path(str(request.path))):
        yield
        return
    with pytest.MonkeyPatch.context() as monkeypatch:
        make_hermetic(monkeypatch, tmp_path_factory.mktemp("hermetic"))
        yield


@pytest.fixture(scope="module", autouse=True)
def hermetic_module(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module-scoped so module fixtures (a fake server, `model tiny`) start hermetic too."""
    yield from hermetic_scope(request, tmp_path_factory)


@pytest.fixture(autouse=True)
def hermetic(request: pytest.FixtureRequest, hermetic_module: None, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[None]:
    """Each unit or golden test gets its own empty HF cache and .env (what one test writes, the next never sees)."""
    yield from hermetic_scope(request, tmp_path_factory)
