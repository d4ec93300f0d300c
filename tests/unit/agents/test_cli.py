"""LLMAgentV2 from the command lines: `taustack eval run --agent-config` and `taustack-tau2` (tau2's own CLI with
taustack's agents registered), bad configs refused in one line with exit 1 before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, SUBPROCESS_ENV, run_cli


def tau2_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "taustack.agents.tau2_cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False, env={**os.environ, **SUBPROCESS_ENV, **(env or {})})


@pytest.mark.parametrize(("text", "named"), [("repair:\n  max_reprompts: -2\n", "repair.max_reprompts"),
                                            ("context:\n  tokenizer: /nonexistent/tokenizer\n", "context.tokenizer")])
def test_eval_run_refuses_a_bad_agent_config_before_writing(tmp_path: Path, text: str, named: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = run_cli("eval", "run", "--agent", "llm_agent_v2", "--agent-config", str(bad), "--agent-model", "m",
                     "--agent-url", "http://127.0.0.1:9", "--user-model", "m", "--user-url", "http://127.0.0.1:9",
                     "--domain", "mock", "--name", "refused", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and named in result.stderr, result.stderr
    assert not (tmp_path / "runs").exists()


def test_agent_config_is_for_taustacks_agent_only(tmp_path: Path) -> None:
    result = run_cli("eval", "run", "--agent", "llm_agent", "--agent-config", str(ROOT / "agents" / "v2.yaml"),
                     "--agent-model", "m", "--agent-url", "http://127.0.0.1:9", "--user-model", "m", "--user-url",
                     "http://127.0.0.1:9", "--domain", "mock", "--runs-dir", str(tmp_path))
    assert result.returncode == 1 and "llm_agent_v2" in result.stderr


def test_taustack_tau2_registers_the_agents_in_tau2s_own_cli() -> None:
    result = tau2_cli("run", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "llm_agent_v2" in result.stdout and "llm_agent_v2_solo" in result.stdout


def test_taustack_tau2_refuses_a_bad_config_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("voting:\n  samples: 1\n")
    result = tau2_cli("run", "--agent", "llm_agent_v2", env={"TAUSTACK_AGENT_CONFIG": str(bad)})
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "voting.samples" in result.stderr, result.stderr
