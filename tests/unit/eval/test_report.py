"""report: tau2 26.3's own numbers on real files, not estimable where it must be, the schema, files and errors."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import pytest

from taustack.eval import render, stats
from taustack.eval.outcomes import EvalError, load
from taustack.eval.report import build_report
from taustack.eval.report_files import REPORT_FILES, report_files, write_all
from tests.unit.eval.conftest import AIRLINE_A, AIRLINE_B, DATA, GPT_FILES, load_json, make_run_dir, multi_trial


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


def _run_with_config(folder: Path, results: list[Path], config: dict[str, object] | None) -> Path:
    """A run directory of llm_agent_v2 with `config` as the agent config in effect (None: stock llm_agent)."""
    run = make_run_dir(folder, results)
    manifest = load_json(run / "manifest.json")
    for cell in manifest["cells"]:
        if config is not None:
            cell.update(agent="llm_agent_v2", agent_config=config)
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return run


def _with(path: Path, out: Path, seed: int | None = None, user: str | None = None,
          task_ids: set[str] | None = None) -> Path:
    """A copy of a results file with other trial seeds, another user model, or only some tasks."""
    data = load_json(path)
    for simulation in data["simulations"]:
        simulation["seed"] = seed if seed is not None else simulation["seed"]
    if seed is not None and seed < 0:
        for simulation in data["simulations"]:
            del simulation["seed"]
    if user is not None:
        data["info"]["user_info"]["llm"] = user
    if task_ids is not None:
        data["simulations"] = [s for s in data["simulations"] if s["task_id"] in task_ids]
    out.write_text(json.dumps(data), encoding="utf-8")
    return out


def _tasks_once(report: dict) -> None:
    """No task counted twice: a system's tasks are the distinct (domain, task) pairs of its cells."""
    for system in report["systems"]:
        cells = [c for c in report["cells"] if c["configuration"]["id"] == system["configuration"]["id"]]
        assert system["tasks"] == len({(c["domain"], t["task_id"]) for c in cells for t in c["per_task"]})


def test_runs_of_different_configurations_stay_apart(tmp_path: Path) -> None:
    # the README's ablation: `eval report evals/v2 evals/v2-no-repair` pooled both into one row of 40 tasks
    v2 = _run_with_config(tmp_path / "v2", [AIRLINE_A], {"repair": {"enabled": True}})
    no_repair = _run_with_config(tmp_path / "v2-no-repair", [AIRLINE_A], {"repair": {"enabled": False}})
    report = build_report(load([v2, no_repair]))
    assert len(report["systems"]) == 2 and [s["tasks"] for s in report["systems"]] == [20, 20]
    labels = [s["system"] for s in report["systems"]]
    assert len(set(labels)) == 2 and all(label.startswith("m (llm_agent_v2) with config ") for label in labels)
    assert {c["system"] for c in report["cells"]} == set(labels)
    assert render.combined_systems(report) == []  # no row pools the two
    single = build_report(load([v2]))["systems"][0]["pass_hat_k"][0]
    assert all(s["pass_hat_k"][0] == single for s in report["systems"])
    _tasks_once(report)
    # two results files that differ only in their user model
    other_user = _with(AIRLINE_A, tmp_path / "other-user.json", user="gpt-4o")
    report = build_report(load([AIRLINE_A, other_user]))
    assert sorted(s["system"] for s in report["systems"]) == ["gpt-4.1 (llm_agent) with user gpt-4.1",
                                                              "gpt-4.1 (llm_agent) with user gpt-4o"]
    _tasks_once(report)


def test_disjoint_tasks_of_one_configuration_combine(tmp_path: Path) -> None:
    ids = sorted({s["task_id"] for s in load_json(AIRLINE_A)["simulations"]})
    first = _with(AIRLINE_A, tmp_path / "first.json", task_ids=set(ids[:8]))
    second = _with(AIRLINE_A, tmp_path / "second.json", task_ids=set(ids[8:]))
    report = build_report(load([first, second]))
    (system,) = report["systems"]
    whole = build_report(load([AIRLINE_A]))["cells"][0]["pass_hat_k"][0]
    assert system["tasks"] == 20 and not system["pooled"] and system["pass_hat_k"][0] == whole
    assert render.combined_systems(report) == [(system, "airline (combined)")]
    overall = build_report(load(GPT_FILES))["systems"]  # one model's three domain files: one overall row
    assert len(overall) == 1 and overall[0]["tasks"] == 100 and render.system_domain(overall[0]) == "overall"


def test_overlapping_runs_of_one_configuration(tmp_path: Path) -> None:
    one = _run_with_config(tmp_path / "one", [AIRLINE_A], None)
    again = _run_with_config(tmp_path / "again", [AIRLINE_A], None)
    with pytest.raises(EvalError, match=r"^m \(llm_agent\) \(default\): \S+/one/results/cell0.json and "
                                        r"\S+/again/results/cell0.json are one configuration and both hold airline "
                                        r"tasks \d+, \d+, \d+, \d+, \d+ \(\+15 more\): report them one at a time"):
        build_report(load([one, again]))
    # asked to combine, the same seed (300, tau2's default) repeats the same trials: not new draws
    with pytest.raises(EvalError, match=r"repeat the same trials of airline task \d+ \(trial seed 626729\)"):
        build_report(load([one, again]), combine_overlapping=True)
    unseeded = _run_with_config(tmp_path / "unseeded", [_with(AIRLINE_A, tmp_path / "u.json", seed=-1)], None)
    with pytest.raises(EvalError, match="records no trial seed"):
        build_report(load([one, unseeded]), combine_overlapping=True)
    # other seeds are new draws: pooled as a second trial of each task, every task once
    reseeded = _with(AIRLINE_B, tmp_path / "b.json", seed=373753, task_ids={s["task_id"] for s in
                                                                            load_json(AIRLINE_A)["simulations"]})
    other = _run_with_config(tmp_path / "other", [reseeded], None)
    report = build_report(load([one, other]), combine_overlapping=True)
    (system,) = report["systems"]
    assert system["pooled"] and system["tasks"] == 20 and system["simulations"] == 40 and system["k_max"] == 2
    successes: dict[str, int] = {}
    for cell in report["cells"]:
        for task in cell["per_task"]:
            successes[task["task_id"]] = successes.get(task["task_id"], 0) + task["successes"]
    values = [c / 2 for c in successes.values()]
    assert system["pass_hat_k"][0]["value"] == pytest.approx(sum(values) / 20)
    assert system["pass_hat_k"][0]["se"] == pytest.approx(stats.clustered_se(values))
    assert system["pass_hat_k"][1]["value"] is not None  # pass^2 from two draws per task
    _tasks_once(report)
