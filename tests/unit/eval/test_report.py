"""report: tau2 26.3's own numbers on real files, not estimable where it must be, the schema, files and errors."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import pytest

from taustack.eval.outcomes import EvalError, load
from taustack.eval.report import build_report
from taustack.eval.report_files import REPORT_FILES, report_files, write_all
from tests.unit.eval.conftest import AIRLINE_B, DATA, GPT_FILES, load_json, make_run_dir, multi_trial


def _tau2_metrics(path: Path) -> object:
    from tau2.data_model.simulation import Results
    from tau2.metrics.agent_metrics import compute_metrics

    return compute_metrics(Results.model_validate_json(path.read_text(encoding="utf-8")))


def _assert_equal_to_tau2(path: Path, cell: dict) -> None:
    metrics = _tau2_metrics(path)
    assert cell["avg_reward"] == pytest.approx(metrics.avg_reward, abs=1e-12)
    assert cell["avg_agent_cost"] == pytest.approx(metrics.avg_agent_cost, abs=1e-12)
    ours = {row["k"]: row["value"] for row in cell["pass_hat_k"] if row["value"] is not None}
    assert ours == pytest.approx({int(k): v for k, v in metrics.pass_hat_ks.items()}, abs=1e-12)


@pytest.mark.usefixtures("tau2_env")
def test_equal_to_tau2_compute_metrics_on_every_repo_file(tmp_path: Path) -> None:
    pytest.importorskip("tau2")
    files = sorted(DATA.glob("*.json"))
    report = build_report(load(files), draws=2000)
    for path in files:
        (cell,) = [c for c in report["cells"] if c["source"] == str(path)]
        _assert_equal_to_tau2(path, cell)
    synthetic = multi_trial(AIRLINE_B, 4, tmp_path / "four.json")
    (cell,) = build_report(load([synthetic]))["cells"]
    assert cell["k_max"] == 4 and all(row["value"] is not None for row in cell["pass_hat_k"])
    assert any(task["flips"] for task in cell["per_task"])
    _assert_equal_to_tau2(synthetic, cell)


def test_one_trial_pass_k_above_1_is_not_estimable_and_schema_holds(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    report = build_report(load(GPT_FILES))
    overall = report["systems"][0]
    assert overall["domains"] == ["airline", "retail", "telecom"] and overall["tasks"] == 100
    assert overall["pass_hat_k"][0]["value"] == pytest.approx(62 / 100)
    for entry in [*report["cells"], overall]:
        assert entry["pass_hat_k"][0]["ci_low"] < entry["pass_hat_k"][0]["value"] < entry["pass_hat_k"][0]["ci_high"]
        assert [row["value"] for row in entry["pass_hat_k"][1:]] == [None, None, None]
        assert not entry["leaderboard"]["eligible"]
    assert all(t["flips"] is None for c in report["cells"] for t in c["per_task"])
    schema = json.loads((resources.files("taustack.eval") / "schemas" / "report.schema.json").read_text())
    jsonschema.validate(report, schema)
    written = write_all(tmp_path / "out", report_files(report))
    assert sorted(p.name for p in written) == sorted(REPORT_FILES)
    assert sorted(os.listdir(tmp_path / "out")) == sorted(REPORT_FILES)  # no temporary file left behind
    jsonschema.validate(json.loads((tmp_path / "out" / "report.json").read_text()), schema)
    assert (tmp_path / "out" / "report_pass_k.png").read_bytes()[:4] == b"\x89PNG"


def test_a_file_that_is_not_results_is_named_and_the_others_reported(tmp_path: Path) -> None:
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": 1}', encoding="utf-8")
    loaded = load([bad, GPT_FILES[0]])
    assert len(loaded.cells) == 1 and len(loaded.warnings) == 1 and str(bad) in loaded.warnings[0]
    with pytest.raises(EvalError, match="no tau2 results could be read"):
        load([bad])


def test_reward_info_null_is_a_failure(tmp_path: Path) -> None:
    data = load_json(GPT_FILES[0])
    first = next(s for s in data["simulations"] if s["reward_info"]["reward"] == 1.0)
    first["reward_info"] = None
    path = tmp_path / "null.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    (cell,) = build_report(load([path]))["cells"]
    assert cell["pass_hat_k"][0]["value"] == pytest.approx(9 / 20)


def test_run_directory_infra_errors_and_empty_run(tmp_path: Path) -> None:
    data = load_json(AIRLINE_B)
    errored = [s for s in data["simulations"] if s["termination_reason"] == "agent_error"]
    errors = [{"cell": "cell0", "simulation_id": s["id"], "task_id": s["task_id"], "trial": 0,
               "kind": "infrastructure", "cause": "connection refused"} for s in errored[:4]]
    run = make_run_dir(tmp_path / "run", [AIRLINE_B], errors)
    (cell,) = build_report(load([run]))["cells"]
    assert cell["errors"] == {"infrastructure": 4, "unclassified": len(errored) - 4}
    strict = cell["excluding_infra"]
    assert strict["dropped"] == 4 and strict["dropped_by_reason"] == {"agent_error": 4}
    assert cell["excluding_infra"]["pass_hat_k"][0]["value"] == pytest.approx(9 / 46)
    assert cell["pass_hat_k"][0]["value"] == pytest.approx(9 / 50)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.json").write_text(json.dumps({"schema_version": 1, "cells": [{"id": "c", "domain": "mock"}]}))
    with pytest.raises(EvalError, match=f"run directory {empty} has no results"):
        load([empty])
