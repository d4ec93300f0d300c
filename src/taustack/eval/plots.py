"""PNG plots as bytes (matplotlib's Agg backend, imported when a plot is drawn): pass^k against k with interval
bands, per-domain pass^1 bars with interval whiskers, and compare's per-task outcome grid."""

from __future__ import annotations

import io
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(figure)
    return buffer.getvalue()


def pass_k_plot(report: dict[str, Any]) -> bytes:
    """pass^k against k for each cell and system overall; shaded: the 95% interval (where estimable)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    from taustack.eval.render import combined_systems

    entries = [(c, f"{c['system']} {c['domain']}") for c in report["cells"]]
    entries += [(s, f"{s['system']} {domain}") for s, domain in combined_systems(report)]
    for entry, label in entries:
        rows = [r for r in entry["pass_hat_k"] if r["value"] is not None]
        ks = [r["k"] for r in rows]
        line = axes.plot(ks, [r["value"] for r in rows], marker="o", label=f"{label} ({entry['mode']})")[0]
        banded = [r for r in rows if r["ci_low"] is not None]
        if banded:
            axes.fill_between([r["k"] for r in banded], [r["ci_low"] for r in banded], [r["ci_high"] for r in banded],
                              color=line.get_color(), alpha=0.15)
    axes.set(xlabel="k", ylabel="pass^k", ylim=(0, 1), title="pass^k with 95% cluster-bootstrap intervals")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.legend(fontsize=7)
    return _png(figure)


def domain_bars(report: dict[str, Any]) -> bytes:
    """pass^1 per domain (and overall) per system, with 95% interval whiskers."""
    plt = _pyplot()
    from taustack.eval.render import combined_systems

    entries = [(c, c["domain"]) for c in report["cells"]] + combined_systems(report)
    figure, axes = plt.subplots(figsize=(max(5, 0.8 * len(entries) + 2), 4.5))
    values = [e["pass_hat_k"][0]["value"] for e, _ in entries]
    low = [v - (e["pass_hat_k"][0]["ci_low"] if e["pass_hat_k"][0]["ci_low"] is not None else v)
           for (e, _), v in zip(entries, values, strict=True)]
    high = [(e["pass_hat_k"][0]["ci_high"] if e["pass_hat_k"][0]["ci_high"] is not None else v) - v
            for (e, _), v in zip(entries, values, strict=True)]
    labels = [f"{e['system']}\n{d}" for e, d in entries]
    axes.bar(range(len(entries)), values, yerr=[low, high], capsize=4, color="#4c72b0")
    axes.set_xticks(range(len(entries)), labels, rotation=30, ha="right", fontsize=7)
    axes.set(ylabel="pass^1", ylim=(0, 1), title="pass^1 per domain, 95% intervals")
    return _png(figure)


def outcome_grid(rows: list[tuple[str, list[bool], list[bool]]], label_a: str, label_b: str) -> bytes:
    """One row per paired task: A's trials then B's, green success, red failure."""
    plt = _pyplot()
    width = max((len(a) + len(b) for _, a, b in rows), default=2) + 1
    figure, axes = plt.subplots(figsize=(max(4, 0.35 * width + 2), max(2.5, 0.18 * len(rows) + 1)))
    grid = []
    for _, a, b in rows:
        row = [1.0 if x else 0.0 for x in a] + [0.5] + [1.0 if x else 0.0 for x in b]
        grid.append(row + [0.5] * (width - len(row)))
    axes.imshow(grid or [[0.5]], cmap="RdYlGn", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    axes.set_yticks(range(len(rows)), [task for task, _, _ in rows], fontsize=6)
    axes.set_xticks([])
    axes.set_title(f"per-task outcomes: {label_a} | {label_b}", fontsize=8)
    return _png(figure)
