"""`taustack eval report|compare` through the real entry point: exit codes, one-line errors, files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taustack.cli.main import main
from tests.unit.eval.conftest import AIRLINE_A, AIRLINE_B, GPT_FILES, make_run_dir


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_report_json_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "eval", "report", *map(str, GPT_FILES), "--json", "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert json.loads(out)["schema_version"] == 1
    assert (tmp_path / "r" / "report.md").is_file() and "wrote" in err
    code, out, err = _run(capsys, "eval", "report", str(GPT_FILES[0]))
    assert code == 0 and "not estimable" in out and "no files written" in err


def test_report_into_a_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run_dir(tmp_path / "run", [AIRLINE_B])
    code, _, err = _run(capsys, "eval", "report", str(run))
    assert code == 0, err
    assert (run / "report.json").is_file() and (run / "report_domains.png").is_file()


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    copy = tmp_path / "copy.json"  # the same run twice: one configuration, the same tasks, the same trial seeds
    copy.write_bytes(AIRLINE_A.read_bytes())
    for args in (("eval", "report", str(tmp_path / "missing.json")), ("eval", "report", str(bad)),
                 ("eval", "compare", str(AIRLINE_A), str(GPT_FILES[1])), ("eval", "report", str(AIRLINE_A), str(copy)),
                 ("eval", "report", str(AIRLINE_A), str(copy), "--combine-overlapping")):
        code, out, err = _run(capsys, *args)
        assert code == 1 and out == ""
        assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert _run(capsys, "eval", "report", str(AIRLINE_A), "--bootstrap", "10")[0] == 2
    assert not (tmp_path / "bad").exists()


def test_compare_json_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "eval", "compare", str(AIRLINE_A), str(AIRLINE_B), "--json", "--out",
                          str(tmp_path / "c"))
    assert code == 0, err
    result = json.loads(out)
    assert {"schema_version", "rows", "overall"} <= set(result)
    assert {"domain", "mode", "tasks", "successes_a", "successes_b", "gained", "lost", "pass1_a", "pass1_b", "diff",
            "ci_low", "ci_high", "p_value", "mde"} <= set(result["rows"][0])
    assert (tmp_path / "c" / "compare.md").is_file() and (tmp_path / "c" / "compare_tasks.png").is_file()
    assert result["tested"] == "excluding_infra" and result["overall"]["tested"] == "excluding_infra"
    assert "Both pass^1 figures" in (tmp_path / "c" / "compare.md").read_text()
    code, out, _ = _run(capsys, "eval", "compare", str(AIRLINE_A), str(AIRLINE_B))
    assert code == 0 and "exact McNemar" in out and "tasks with an infrastructure error: A 0, B 0" in out
    code, out, err = _run(capsys, "eval", "compare", str(AIRLINE_A), str(AIRLINE_B), "--json",
                          "--count-infra-as-failure")
    assert code == 0, err
    assert json.loads(out)["tested"] == "counting_infra"
