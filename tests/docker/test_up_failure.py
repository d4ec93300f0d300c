"""`taustack up` with a replica that never gets ready: exits non-zero naming it, with its last log lines."""

from __future__ import annotations

import os

import pytest

from tests.docker.conftest import NGINX_IMAGE, PYTHON_IMAGE
from tests.helpers import run_cli, write_stack

pytestmark = pytest.mark.docker


def test_up_names_the_replica_that_never_gets_ready(tmp_path, base_images: None) -> None:  # type: ignore[no-untyped-def]
    # a Python image has no `ollama` command: its healthcheck can never pass
    stack = write_stack(tmp_path / "stack.yaml", {
        "ollama": {"image": PYTHON_IMAGE, "replicas": 1, "port": 22434},
        "balancer": {"image": NGINX_IMAGE},
    })
    args = ["--stack", str(stack), "--generated-dir", str(tmp_path / "gen"),
            "--project-name", f"taustack-fail-{os.getpid()}"]
    try:
        result = run_cli("up", "--timeout", "15", *args, timeout=180)
        assert result.returncode != 0
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("Error: ") and "ollama-0" in last, result.stderr
        assert "last log lines of ollama-0" in result.stderr
    finally:
        run_cli("down", "--volumes", *args, timeout=120)
