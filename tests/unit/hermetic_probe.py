"""Run by tests/unit/test_hermetic.py in a pytest whose environment plays the real machine (its name does not
match test_*.py, so a normal run does not collect it): the hermetic fixture must hide that machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from taustack.errors import SpecError
from taustack.planner.layout import find_config
from taustack.secrets import environment
from taustack.workspace import Workspace
from tests.helpers import ROOT, run_cli

MODEL = "acme/tiny-planner"


def test_probe_inside_the_fake_machine() -> None:
    machine = os.environ.get("HERMETIC_PROBE_MACHINE")
    if not machine:
        pytest.skip("run by test_a_unit_test_never_sees_the_machine")
    assert not Path(os.environ["HF_HOME"]).is_relative_to(machine)
    with pytest.raises(SpecError, match=r"no config\.json"):
        find_config(MODEL)
    assert "OPENAI_API_KEY" not in os.environ and "HF_TOKEN" not in os.environ
    assert "OPENAI_API_KEY" not in environment(Workspace(ROOT).env_file)
    assert "LITELLM_MASTER_KEY" not in environment(Workspace(ROOT).env_file)
    planned = run_cli("plan", MODEL, "--gpus", "8", "--gpu-mem", "80")
    assert planned.returncode == 1 and "no config.json" in planned.stderr, planned.stderr
    key = run_cli("key")
    assert key.returncode == 0 and key.stdout.strip() != "sk-from-the-machine-env-file", key.stderr
