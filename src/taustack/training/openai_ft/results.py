"""What a finished job leaves in its folder: job.json (job, checkpoints, result files), metrics.csv (the result
file, which the API serves base64-encoded) and a loss plot (matplotlib's PNG, else a hand-written SVG)."""

from __future__ import annotations

import base64
import contextlib
import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taustack.fileio import temp_beside, write_atomic, write_json
from taustack.training.openai_ft.api import Api

if TYPE_CHECKING:
    from openai.types.fine_tuning import FineTuningJob

METRICS_FILE, JOB_FILE = "metrics.csv", "job.json"
LOSSES = ("train_loss", "valid_loss", "full_valid_loss")
COLORS = {"train_loss": "#4c72b0", "valid_loss": "#dd8452", "full_valid_loss": "#55a868"}


def decode_result(raw: bytes) -> str:
    """The CSV text of a result file: served base64-encoded by the API, taken as it is when already CSV."""
    stripped = raw.strip()
    if not stripped.startswith(b"step"):
        with contextlib.suppress(ValueError):  # binascii.Error: not base64 either
            stripped = base64.b64decode(stripped, validate=True)
    return stripped.decode("utf-8", errors="replace").replace("\r\n", "\n").strip() + "\n"


def parse_metrics(text: str) -> list[dict[str, float | None]]:
    """CSV rows as numbers (an empty cell, or one that is not a number, is None)."""
    rows: list[dict[str, float | None]] = []
    for row in csv.DictReader(io.StringIO(text)):
        parsed: dict[str, float | None] = {}
        for name, cell in row.items():
            try:
                parsed[str(name).strip()] = float(cell) if cell and cell.strip() else None
            except (TypeError, ValueError):
                parsed[str(name).strip()] = None
        rows.append(parsed)
    return rows


def loss_series(rows: list[dict[str, float | None]]) -> dict[str, list[tuple[float, float]]]:
    """(step, loss) points per loss column that has any."""
    series: dict[str, list[tuple[float, float]]] = {}
    for name in LOSSES:
        points = [(step, value) for row in rows if (step := row.get("step")) is not None
                  and (value := row.get(name)) is not None]
        if points:
            series[name] = points
    return series


def plot_png(series: dict[str, list[tuple[float, float]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 4.5))
    for name, points in series.items():
        marker = "o" if name == "full_valid_loss" else None
        axes.plot([p[0] for p in points], [p[1] for p in points], label=name, color=COLORS[name], marker=marker)
    axes.set(title=title, xlabel="step", ylabel="loss")
    axes.legend()
    figure.tight_layout()
    temp = temp_beside(path)
    try:
        figure.savefig(temp, format="png", dpi=100)
        temp.replace(path)
    finally:
        pyplot.close(figure)
        temp.unlink(missing_ok=True)


def svg_text(series: dict[str, list[tuple[float, float]]], title: str, width: int = 640, height: int = 360) -> str:
    """A small SVG line chart (axes, one polyline per loss, a legend) for hosts without matplotlib."""
    left, right, top, bottom = 60, 20, 30, 40
    points = [p for line in series.values() for p in line]
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(0.0, min(p[1] for p in points)), max(p[1] for p in points)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def at(x: float, y: float) -> str:
        px = left + (x - x0) / (x1 - x0) * (width - left - right)
        py = height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)
        return f"{px:.1f},{py:.1f}"

    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle">{escaped}</text>',
             f'<polyline points="{at(x0, y1)} {at(x0, y0)} {at(x1, y0)}" fill="none" stroke="black"/>',
             f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{y1:.3g}</text>',
             f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end">{y0:.3g}</text>',
             f'<text x="{left}" y="{height - bottom + 16}" text-anchor="middle">{x0:g}</text>',
             f'<text x="{width - right}" y="{height - bottom + 16}" text-anchor="middle">{x1:g}</text>',
             f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle">step</text>']
    for index, (name, line) in enumerate(series.items()):
        coords = " ".join(at(x, y) for x, y in line)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{COLORS[name]}" stroke-width="2"/>')
        parts.append(f'<text x="{width - right - 4}" y="{top + 14 * (index + 1)}" text-anchor="end" '
                     f'fill="{COLORS[name]}">{name}</text>')
    return "\n".join([*parts, "</svg>"]) + "\n"


def write_plot(rows: list[dict[str, float | None]], folder: Path, title: str) -> Path | None:
    """loss.png with matplotlib when it is installed, else loss.svg; None when no row has a loss."""
    series = loss_series(rows)
    if not series:
        return None
    try:
        import matplotlib  # noqa: F401  # only to know whether it is there
    except ImportError:
        path = folder / "loss.svg"
        write_atomic(path, svg_text(series, title))
        return path
    path = folder / "loss.png"
    plot_png(series, path, title)
    return path


def save_job(api: Api, job: FineTuningJob, folder: Path) -> dict[str, Any]:
    """Write job.json (the job, its checkpoints, its result files) and, for each result file, the CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    result_files: list[dict[str, Any]] = []
    for index, file_id in enumerate(job.result_files or []):
        name = METRICS_FILE if index == 0 else f"metrics-{file_id}.csv"
        remote = api.file(file_id)
        write_atomic(folder / name, decode_result(api.content(file_id)))
        result_files.append({"id": file_id, "filename": remote.filename, "saved_as": name})
    checkpoints = api.checkpoints(job.id) if job.status == "succeeded" else []
    record = {"job": job.model_dump(mode="json"), "checkpoints": [c.model_dump(mode="json") for c in checkpoints],
              "result_files": result_files, "api_base_url": api.base_url}
    write_json(folder / JOB_FILE, record)
    return record
