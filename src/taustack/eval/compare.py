"""Paired comparison of A and B (B the candidate) on the tasks both ran: per (domain, mode) and overall
(stratified by domain). Exact McNemar with one trial per task on both sides, else a sign-flip permutation test of
per-task pass^1 differences; a paired cluster-bootstrap interval of the mean difference; the MDE.

Infrastructure errors: a task with one on either side (errors.jsonl's `infrastructure`, or tau2's
infrastructure_error) is left out of the test unless infrastructure errors count as failures (tau2's figure).
Errors nothing classifies (agent_error/user_error without errors.jsonl) are paired as failures, as tau2 scores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taustack.eval import stats
from taustack.eval.outcomes import Cell, EvalError, Loaded, Outcome, task_key
from taustack.eval.report import SCHEMA_VERSION, by_task

EXCLUDING_INFRA = "excluding_infra"
COUNTING_INFRA = "counting_infra"
TESTED_LABELS = {EXCLUDING_INFRA: "tasks with an infrastructure error on either side left out",
                 COUNTING_INFRA: "infrastructure errors counted as failures (tau2's pass^1)"}


@dataclass(frozen=True)
class Pair:
    """One common task: A's and B's outcomes in trial order."""

    stratum: str
    task_id: str
    a: list[Outcome]
    b: list[Outcome]

    @property
    def pass1_a(self) -> float:
        return sum(o.success for o in self.a) / len(self.a)

    @property
    def pass1_b(self) -> float:
        return sum(o.success for o in self.b) / len(self.b)

    @property
    def infra_a(self) -> bool:
        return any(o.infra is True for o in self.a)

    @property
    def infra_b(self) -> bool:
        return any(o.infra is True for o in self.b)

    @property
    def scorable(self) -> bool:
        """Both sides could score the task: no infrastructure error on either."""
        return not (self.infra_a or self.infra_b)


def _cells_by_key(loaded: Loaded, side: str) -> dict[tuple[str, str], Cell]:
    cells: dict[tuple[str, str], Cell] = {}
    for cell in loaded.cells:
        key = (cell.domain, cell.mode)
        if key in cells:
            raise EvalError(f"{side} holds two runs of {cell.domain}/{cell.mode} ({cells[key].source}, {cell.source}): "
                            "name one")
        cells[key] = cell
    return cells


def pair_up(a: Loaded, b: Loaded) -> tuple[list[Pair], dict[str, Any]]:
    """The paired tasks, and what could not be paired; EvalError for runs that must not be compared."""
    cells_a, cells_b = _cells_by_key(a, "A"), _cells_by_key(b, "B")
    if set(cells_a) != set(cells_b):
        def spell(keys: set[tuple[str, str]]) -> str:
            return ", ".join(f"{d}/{m}" for d, m in sorted(keys)) or "nothing"
        raise EvalError(f"A and B ran different domains or modes (A: {spell(set(cells_a))}; B: {spell(set(cells_b))})")
    pairs: list[Pair] = []
    unpaired: dict[str, Any] = {}
    for key in sorted(cells_a):
        cell_a, cell_b = cells_a[key], cells_b[key]
        tasks_a, tasks_b = by_task(cell_a.outcomes), by_task(cell_b.outcomes)
        common = sorted(set(tasks_a) & set(tasks_b), key=task_key)
        for task in common:
            hash_a, hash_b = cell_a.task_hashes.get(task), cell_b.task_hashes.get(task)
            if hash_a and hash_b and hash_a != hash_b:
                raise EvalError(f"task {task} of {key[0]}/{key[1]} differs between A and B (its definition's hash "
                                f"{hash_a[:12]} vs {hash_b[:12]}): not the same task")
        unpaired[f"{key[0]}/{key[1]}"] = {"only_a": sorted(set(tasks_a) - set(tasks_b), key=task_key),
                                          "only_b": sorted(set(tasks_b) - set(tasks_a), key=task_key)}
        pairs.extend(Pair(key[0] + "/" + key[1], t, tasks_a[t], tasks_b[t]) for t in common)
    if not pairs:
        raise EvalError("A and B have no task in common")
    return pairs, unpaired


def _figure(pairs: list[Pair]) -> dict[str, Any]:
    """Each side's pass^1 over `pairs` and their difference (None over no task)."""
    if not pairs:
        return {"tasks": 0, "pass1_a": None, "pass1_b": None, "diff": None}
    pass1_a = sum(p.pass1_a for p in pairs) / len(pairs)
    pass1_b = sum(p.pass1_b for p in pairs) / len(pairs)
    return {"tasks": len(pairs), "pass1_a": pass1_a, "pass1_b": pass1_b, "diff": pass1_b - pass1_a}


def _test(pairs: list[Pair], draws: int, seed: int) -> dict[str, Any]:
    """The paired test, interval and MDE over the tested pairs (None where there is no task)."""
    if not pairs:
        return {"successes_a": 0, "successes_b": 0, "gained": 0, "lost": 0, "ci_low": None, "ci_high": None,
                "p_value": None, "test": "none (no task both sides could score)", "mde": None, "mde_variance": None,
                "mde_basis": None}
    d = [p.pass1_b - p.pass1_a for p in pairs]
    single = all(len(p.a) == 1 and len(p.b) == 1 for p in pairs)
    gained, lost = sum(x > 0 for x in d), sum(x < 0 for x in d)
    interval = stats.bootstrap_ci(d, [p.stratum for p in pairs], draws, seed)
    mde = stats.mde(d, sum(p.pass1_a for p in pairs) / len(pairs), sum(p.pass1_b for p in pairs) / len(pairs))
    return {"successes_a": sum(o.success for p in pairs for o in p.a),
            "successes_b": sum(o.success for p in pairs for o in p.b), "gained": gained, "lost": lost,
            "ci_low": interval[0] if interval else None, "ci_high": interval[1] if interval else None,
            "p_value": stats.mcnemar_exact(gained, lost) if single else stats.sign_flip_p(d, seed=seed),
            "test": "exact McNemar" if single else "sign-flip permutation", "mde": mde.value if mde else None,
            "mde_variance": mde.variance if mde else None, "mde_basis": mde.basis if mde else None}


def _row(pairs: list[Pair], tested: str, draws: int, seed: int) -> dict[str, Any]:
    """One row: the test on what `tested` keeps, both pass^1 figures, and the infrastructure errors per side."""
    scorable = [p for p in pairs if p.scorable]
    kept = scorable if tested == EXCLUDING_INFRA else pairs
    return {**_figure(kept), **_test(kept, draws, seed), "tested": tested,
            "counting_infra": _figure(pairs), "excluding_infra": _figure(scorable),
            "infra_tasks_a": sum(p.infra_a for p in pairs), "infra_tasks_b": sum(p.infra_b for p in pairs),
            "infra_tasks_both": sum(p.infra_a and p.infra_b for p in pairs), "left_out": len(pairs) - len(kept),
            "unclassified_a": sum(o.infra is None for p in kept for o in p.a),
            "unclassified_b": sum(o.infra is None for p in kept for o in p.b)}


def infra_warnings(overall: dict[str, Any]) -> list[str]:
    """One line when the sides lost different tasks to infrastructure errors, one per side with unclassified
    errors (paired as failures)."""
    lines = []
    a, b, both = overall["infra_tasks_a"], overall["infra_tasks_b"], overall["infra_tasks_both"]
    if a != b:
        verb = "left out of the test" if overall["tested"] == EXCLUDING_INFRA else "counted as failures"
        lines.append(f"infrastructure errors differ by side: {a} tasks on A, {b} on B ({both} on both), {verb}")
    for side in ("a", "b"):
        if overall[f"unclassified_{side}"]:
            lines.append(f"{side.upper()}: {overall[f'unclassified_{side}']} simulations ended in an error no "
                         "errors.jsonl classifies (agent_error/user_error): paired as failures, as tau2 scores them")
    return lines


def _side(loaded: Loaded) -> dict[str, Any]:
    cells = loaded.cells
    return {"systems": sorted({c.system for c in cells}), "user_models": sorted({str(c.user_model) for c in cells}),
            "tau2_versions": sorted({str(c.tau2_version or "unknown") for c in cells}),
            "sources": sorted({c.source for c in cells})}


def _agent(loaded: Loaded) -> dict[str, Any] | None:
    """What taustack's agent did on this side (all its simulations), None when no simulation carries counters."""
    from taustack.eval.report import agent_section

    return agent_section([o for c in loaded.cells for o in c.outcomes])


def compare(a: Loaded, b: Loaded, draws: int = 2000, seed: int = 0,
            count_infra_as_failure: bool = False) -> dict[str, Any]:
    """The comparison as a JSON-ready dict; differences in user model or tau2 version are shown, not refused.
    Tested: the tasks both sides could score, or with `count_infra_as_failure` every common task (tau2's pass^1)."""
    pairs, unpaired = pair_up(a, b)
    tested = COUNTING_INFRA if count_infra_as_failure else EXCLUDING_INFRA
    if tested == EXCLUDING_INFRA and not any(p.scorable for p in pairs):
        raise EvalError(f"every one of the {len(pairs)} common tasks has an infrastructure error on A or B: nothing "
                        "both sides could score (--count-infra-as-failure tests tau2's pass^1 instead)")
    rows = []
    for stratum in sorted({p.stratum for p in pairs}):
        domain, mode = stratum.split("/", 1)
        rows.append({"domain": domain, "mode": mode,
                     **_row([p for p in pairs if p.stratum == stratum], tested, draws, seed),
                     "only_a": unpaired[stratum]["only_a"], "only_b": unpaired[stratum]["only_b"]})
    overall = {"domain": "overall", "mode": "+".join(sorted({r["mode"] for r in rows})),
               **_row(pairs, tested, draws, seed)}
    side_a, side_b = _side(a), _side(b)
    differences = [f"{what}: A {', '.join(side_a[key])}; B {', '.join(side_b[key])}"
                   for what, key in (("user model", "user_models"), ("tau2 version", "tau2_versions"))
                   if side_a[key] != side_b[key]]
    return {"schema_version": SCHEMA_VERSION, "tested": tested, "tested_label": TESTED_LABELS[tested],
            "a": side_a, "b": side_b, "rows": rows, "overall": overall, "differences": differences,
            "warnings": a.warnings + b.warnings + infra_warnings(overall),
            "agent": {"a": _agent(a), "b": _agent(b)},
            "per_task": [{"domain": p.stratum.split("/")[0], "mode": p.stratum.split("/")[1], "task_id": p.task_id,
                          "a": [o.success for o in p.a], "b": [o.success for o in p.b], "infra_a": p.infra_a,
                          "infra_b": p.infra_b, "tested": tested == COUNTING_INFRA or p.scorable} for p in pairs],
            "bootstrap": {"draws": draws, "seed": seed, "level": stats.LEVEL}}


COMPARE_COLUMNS = ["domain", "mode", "tasks", "succ. A", "succ. B", "gained", "lost", "pass^1 A", "pass^1 B",
                   "diff (B-A)", "95% CI", "p", "test", "MDE", "infra A/B"]
MDE_TEXT = ("MDE = 2.8 sqrt(s2/n), the difference n paired tasks detect with 80% power at a two-sided 5% level; "
            "s2, the variance of the per-task difference it assumes: observed where any task differs, else a floor "
            "(independent outcomes at the observed rates, ra(1-ra) + rb(1-rb), or the worst case 0.5 where every "
            "outcome is the same), never 0.")
FIGURE_COLUMNS = ["domain", "mode", "figure", "tasks", "pass^1 A", "pass^1 B", "diff (B-A)"]


def compare_rows(result: dict[str, Any]) -> list[list[str]]:
    """The rows and the overall line, formatted (points for differences)."""
    from taustack.eval.render import NOT_ESTIMABLE, pct

    def points(value: float | None) -> str:
        return NOT_ESTIMABLE if value is None else f"{100 * value:+.1f}"

    out = []
    for row in [*result["rows"], result["overall"]]:
        ci = NOT_ESTIMABLE if row["ci_low"] is None else f"[{points(row['ci_low'])}, {points(row['ci_high'])}]"
        out.append([row["domain"], row["mode"], str(row["tasks"]), str(row["successes_a"]), str(row["successes_b"]),
                    str(row["gained"]), str(row["lost"]), pct(row["pass1_a"]), pct(row["pass1_b"]),
                    points(row["diff"]), ci, NOT_ESTIMABLE if row["p_value"] is None else f"{row['p_value']:.4g}",
                    row["test"], NOT_ESTIMABLE if row["mde"] is None else f"{100 * row['mde']:.1f}",
                    f"{row['infra_tasks_a']}/{row['infra_tasks_b']}"])
    return out


def mde_line(result: dict[str, Any]) -> str:
    """The variance each row's MDE assumed."""
    parts = [f"{row['domain']}/{row['mode']} s2 {row['mde_variance']:.3f} ({row['mde_basis']})"
             if row["mde"] is not None else f"{row['domain']}/{row['mode']} not estimable"
             for row in [*result["rows"], result["overall"]]]
    return "MDE variance assumed: " + "; ".join(parts)


def figure_rows(result: dict[str, Any]) -> list[list[str]]:
    """Both pass^1 figures of every row: tau2's (infrastructure errors as failures) and the tasks both could score."""
    from taustack.eval.render import NOT_ESTIMABLE, pct

    out = []
    for row in [*result["rows"], result["overall"]]:
        for key, name in ((COUNTING_INFRA, "infra errors as failures (tau2)"),
                          (EXCLUDING_INFRA, "tasks both could score")):
            figure = row[key]
            diff = NOT_ESTIMABLE if figure["diff"] is None else f"{100 * figure['diff']:+.1f}"
            out.append([row["domain"], row["mode"], name + (" (tested)" if key == result["tested"] else ""),
                        str(figure["tasks"]), pct(figure["pass1_a"]), pct(figure["pass1_b"]), diff])
    return out


def infra_line(result: dict[str, Any]) -> str:
    """Which figure was tested and how many tasks infrastructure errors touched on each side."""
    overall = result["overall"]
    return (f"tested: {result['tested_label']}; tasks with an infrastructure error: A {overall['infra_tasks_a']}, "
            f"B {overall['infra_tasks_b']} ({overall['infra_tasks_both']} on both); left out: {overall['left_out']}")


def agent_lines(result: dict[str, Any]) -> list[str]:
    """What taustack's agent did on each side, side by side (only when a side carries its counters)."""
    from taustack.eval.render import agent_line

    agents = result["agent"]
    if not (agents["a"] or agents["b"]):
        return []
    lines = [""]
    for side in ("a", "b"):
        text = agent_line(agents[side]) if agents[side] else "agent: no counters (not taustack's agent)"
        lines.append(f"{side.upper()} {text}")
    return lines


def compare_markdown(result: dict[str, Any]) -> str:
    """compare.md: who is A and B, what was tested, the tables, what differs, what was not paired."""
    from taustack.eval.render import md_table

    side_a = f"A: {', '.join(result['a']['systems'])} ({', '.join(result['a']['sources'])})"
    side_b = f"B (candidate): {', '.join(result['b']['systems'])} ({', '.join(result['b']['sources'])})"
    lines = ["# taustack eval compare", "", side_a, "", side_b, "",
             "Paired on common task ids; diff = B - A in points of per-task pass^1; 95% paired cluster-bootstrap "
             f"interval; {MDE_TEXT} "
             "infra A/B: tasks with an infrastructure error on A and on B.", "", infra_line(result) + ".", "",
             *md_table(COMPARE_COLUMNS, compare_rows(result)), "", mde_line(result) + ".", "", "Both pass^1 figures:",
             "",
             *md_table(FIGURE_COLUMNS, figure_rows(result))]
    for note in result["differences"]:
        lines += ["", f"Differs (shown, not refused): {note}"]
    lines += agent_lines(result)
    for warning in infra_warnings(result["overall"]):
        lines += ["", f"Warning: {warning}"]
    for row in result["rows"]:
        if row["only_a"] or row["only_b"]:
            lines += ["", f"Not paired in {row['domain']}/{row['mode']}: only A {', '.join(row['only_a']) or '-'}; "
                          f"only B {', '.join(row['only_b']) or '-'}"]
    return "\n".join(lines) + "\n"

