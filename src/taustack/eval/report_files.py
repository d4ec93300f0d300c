"""Where report and compare write, and how: every file rendered in memory first, then each written atomically
(text through fileio.write_atomic, PNG through a temporary file renamed over the target)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from taustack.eval.outcomes import EvalError, Loaded
from taustack.fileio import temp_beside, write_atomic

REPORT_FILES = ("report.json", "report.csv", "report.md", "report_pass_k.png", "report_domains.png")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Binary counterpart of fileio.write_atomic."""
    tmp = temp_beside(path)
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def destination(loaded: Loaded, out: Path | None) -> Path | None:
    """--out when given; else the run directory when exactly one was read; else None (nothing is written: a
    folder of plain results files is never written into unasked)."""
    if out is not None:
        if out.exists() and not out.is_dir():
            raise EvalError(f"--out {out}: not a folder")
        return out
    return loaded.run_dirs[0] if len(loaded.run_dirs) == 1 else None


def write_all(folder: Path, files: dict[str, str | bytes]) -> list[Path]:
    """Write the rendered files into `folder` (made if missing), each atomically."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, content in files.items():
            target = folder / name
            if isinstance(content, bytes):
                write_bytes_atomic(target, content)
            else:
                write_atomic(target, content)
            written.append(target)
    except OSError as exc:
        raise EvalError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    return written


def report_files(report: dict[str, Any]) -> dict[str, str | bytes]:
    """report.json, .csv, .md and the two plots, rendered."""
    from taustack.eval import plots, render

    return {"report.json": json.dumps(report, indent=2, ensure_ascii=False) + "\n",
            "report.csv": render.report_csv(report), "report.md": render.report_markdown(report),
            "report_pass_k.png": plots.pass_k_plot(report), "report_domains.png": plots.domain_bars(report)}
