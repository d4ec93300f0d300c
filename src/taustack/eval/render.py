"""The report and the comparison as text: the terminal tables (rich), Markdown and CSV; "not estimable" where a
number cannot be had."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

NOT_ESTIMABLE = "not estimable"


def pct(value: float | None) -> str:
    return NOT_ESTIMABLE if value is None else f"{100 * value:.1f}%"


def interval(row: dict[str, Any]) -> str:
    if row.get("ci_low") is None:
        return NOT_ESTIMABLE
    return f"[{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}]"


def se(row: dict[str, Any]) -> str:
    return NOT_ESTIMABLE if row.get("se") is None else f"{100 * row['se']:.1f}"


def _pass_cells(entry: dict[str, Any], k: int) -> list[str]:
    row = entry["pass_hat_k"][k - 1] if k <= len(entry["pass_hat_k"]) else {"value": None}
    strict = entry["excluding_infra"]["pass_hat_k"]
    other = strict[k - 1]["value"] if k <= len(strict) else None
    return [pct(row["value"]), interval(row), se(row), pct(other)]


REPORT_COLUMNS = ["system", "domain", "mode", "tasks", "sims", "pass^1", "95% CI", "SE", "pass^1 excl. infra",
                  "infra dropped", "pass^4", "leaderboard"]


def system_domain(system: dict[str, Any]) -> str:
    """What a system row spans: "overall", or "<domain> (combined)" for several cells of one domain."""
    combined = len(system["domains"]) == 1 and len(system["sources"]) > 1
    return f"{system['domains'][0]} (combined)" if combined else "overall"


def combined_systems(report: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """The system rows worth a line of their own (those combining more than one cell), with what they span."""
    return [(s, system_domain(s)) for s in report["systems"] if len(s["sources"]) > 1]


def report_rows(report: dict[str, Any], short: bool = False) -> list[list[str]]:
    """One row per cell and one per system combining cells; `short`: the leaderboard column as yes/no only."""
    rows = []
    entries = [(c, c["domain"]) for c in report["cells"]] + combined_systems(report)
    for entry, domain in entries:
        board = entry["leaderboard"]
        rows.append([entry["system"], domain, entry["mode"], str(entry["tasks"]), str(entry["simulations"]),
                     *_pass_cells(entry, 1), str(entry["excluding_infra"]["dropped"]),
                     pct(entry["pass_hat_k"][3]["value"]),
                     "yes" if board["eligible"] else "no" if short else "no: " + "; ".join(board["missing"])])
    return rows


def agent_line(agent: dict[str, Any]) -> str:
    """What taustack's agent did in a cell, one line (counts per simulation, repairs by kind)."""
    per = agent["per_simulation"]
    kinds = ", ".join(f"{k} {v}" for k, v in agent["repairs_by_kind"].items()) or "none"
    return (f"agent, per simulation ({agent['simulations']}): repairs {per['repairs']:.2f}, re-prompts "
            f"{per['reprompts']:.2f}, trimmed turns {per['trimmed_turns']:.2f} ({per['trimmed_tokens']:.0f} tokens), "
            f"retries {per['retries']:.2f}, think calls {per['think_calls']:.2f}, votes with disagreement "
            f"{per['vote_disagreements']:.2f}; repairs by kind: {kinds}")


def report_table(report: dict[str, Any]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="pass^k (tau2's), 95% cluster-bootstrap interval over tasks, clustered SE (points)")
    for column in REPORT_COLUMNS:
        table.add_column(column, justify="left" if column in ("system", "domain", "mode", "leaderboard") else "right",
                         overflow="fold")
    for row in report_rows(report, short=True):
        table.add_row(*(escape(cell) for cell in row))
    return table


def report_csv(report: dict[str, Any]) -> str:
    """One line per (cell or system overall, k): the numbers, unformatted; empty where not estimable."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["system", "domain", "mode", "user_model", "tasks", "simulations", "k", "pass_hat_k", "ci_low",
                     "ci_high", "se", "pass_hat_k_excluding_infra", "infra_dropped", "avg_reward", "source"])
    entries = [(c, c["domain"], c["user_model"], c["source"]) for c in report["cells"]]
    entries += [(s, system_domain(s), "", "") for s in report["systems"]]
    for entry, domain, user, source in entries:
        for row, strict in zip(entry["pass_hat_k"], entry["excluding_infra"]["pass_hat_k"], strict=True):
            writer.writerow([entry["system"], domain, entry["mode"], user or "", entry["tasks"], entry["simulations"],
                             row["k"], *("" if row[key] is None else row[key] for key in
                                         ("value", "ci_low", "ci_high", "se")),
                             "" if strict["value"] is None else strict["value"], entry["excluding_infra"]["dropped"],
                             entry["avg_reward"], source])
    return out.getvalue()


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def report_markdown(report: dict[str, Any]) -> str:
    boot = report["bootstrap"]
    lines = ["# taustack eval report", "",
             f"pass^k as tau2 computes it (pass^k per task averaged over tasks); 95% {boot['method']} intervals "
             f"(B={boot['draws']}, seed {boot['seed']}); SE clustered on the task. \"{NOT_ESTIMABLE}\": the trials "
             "or tasks cannot support the number.", ""]
    lines += md_table(REPORT_COLUMNS, report_rows(report))
    for cell in report["cells"]:
        lines += ["", f"## {cell['system']} / {cell['domain']} / {cell['mode']}", "",
                  f"source {cell['source']}; configuration {cell['configuration']['id']}; user "
                  f"{cell['user_model']}; split {cell['split'] or 'custom'}; "
                  f"trials {cell['trials_declared']} (k max {cell['k_max']}); avg reward {cell['avg_reward']:.4f}; "
                  f"terminations: " + ", ".join(f"{k} {v}" for k, v in cell["terminations"].items()), ""]
        if cell["note"]:
            lines += [f"**{cell['note']}**", ""]
        ks = len(cell["pass_hat_k"])
        lines += md_table(["k", "pass^k", "95% CI", "SE", "excl. infra"],
                           [[str(k), *_pass_cells(cell, k)] for k in range(1, ks + 1)])
        lines.append("")
        lines += md_table(["task", "trials", "successes", "pass^1", "flips"],
                           [[t["task_id"], str(t["trials"]), str(t["successes"]), pct(t["pass_hat_k"][0]),
                             NOT_ESTIMABLE if t["flips"] is None else str(t["flips"])] for t in cell["per_task"]])
        if cell["agent"]:
            lines += ["", agent_line(cell["agent"])]
    if report["warnings"]:
        lines += ["", "## Skipped", ""] + [f"- {w}" for w in report["warnings"]]
    return "\n".join(lines) + "\n"
