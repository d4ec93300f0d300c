"""`dataset to-openai`: examples.jsonl -> train.jsonl and test.jsonl (OpenAI chat fine-tuning lines) + provenance."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from taustack.dataset.make import EXAMPLES, MANIFEST
from taustack.dataset.openai_format import to_record, validate_record
from taustack.dataset.results import DatasetError
from taustack.fileio import iter_jsonl, temp_beside

SPLIT_FILES = {"train": "train.jsonl", "test": "test.jsonl"}
PROVENANCE = "openai_provenance.jsonl"


def dataset_dir(name_or_path: str, out: Path | None) -> Path:
    """A dataset's folder: --out, else NAME when it is a folder, else ./datasets/NAME."""
    folder = out if out is not None else Path(name_or_path) if Path(name_or_path).is_dir() \
        else Path("datasets") / name_or_path
    if not (folder / MANIFEST).is_file() or not (folder / EXAMPLES).is_file():
        raise DatasetError(f"{folder}: no dataset there (no {MANIFEST} and {EXAMPLES}; run `taustack dataset make`)")
    return folder


def iter_examples(folder: Path) -> Iterator[dict[str, Any]]:
    for number, example in iter_jsonl(folder / EXAMPLES, "dataset examples", DatasetError):
        if not isinstance(example, dict) or example.get("split") not in SPLIT_FILES:
            raise DatasetError(f"{folder / EXAMPLES} line {number}: not a dataset example")
        yield example


def write_openai(folder: Path, overwrite: bool) -> Counter[str]:
    """Write train.jsonl, test.jsonl and the provenance side file atomically; every line is validated."""
    targets = [folder / name for name in (*SPLIT_FILES.values(), PROVENANCE)]
    existing = [t.name for t in targets if t.exists()]
    if existing and not overwrite:
        raise DatasetError(f"{folder}: {', '.join(existing)} exist(s): pass --overwrite to replace them")
    temps = {t: temp_beside(t) for t in targets}
    counts: Counter[str] = Counter()
    try:
        handles = {t: temps[t].open("w", encoding="utf-8") for t in targets}
        try:
            for example in iter_examples(folder):
                record = to_record(example["messages"], example["tools"])
                problems = validate_record(record)
                if problems:
                    raise DatasetError(f"example {example.get('id')}: not a valid OpenAI line: {problems[0]}")
                split = example["split"]
                handles[folder / SPLIT_FILES[split]].write(json.dumps(record, ensure_ascii=False) + "\n")
                handles[folder / PROVENANCE].write(json.dumps(
                    {"file": SPLIT_FILES[split], "line": counts[split] + 1, "id": example.get("id"),
                     **example.get("provenance", {})}, ensure_ascii=False) + "\n")
                counts[split] += 1
        finally:
            for handle in handles.values():
                handle.close()
        for target, temp in temps.items():
            os.chmod(temp, 0o644)
            os.replace(temp, target)
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
    return counts

