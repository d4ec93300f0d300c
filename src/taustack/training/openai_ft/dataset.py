"""The dataset folder an OpenAI job trains on: train.jsonl (and test.jsonl), every line checked before upload."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from taustack.fileio import iter_jsonl
from taustack.training.openai_ft import FineTuneError
from taustack.training.rundir import dataset_sha256

TRAIN, TEST = "train.jsonl", "test.jsonl"


@dataclass(frozen=True)
class FineTuneData:
    folder: Path
    train: Path
    train_examples: int
    test: Path | None  # None: no test.jsonl, an empty one, or --no-validation
    test_examples: int
    sha256: str


def dataset_folder(value: str) -> Path:
    """DATASET as given when it is a folder, else ./datasets/DATASET (the names `taustack dataset` uses)."""
    for candidate in (Path(value), Path("datasets") / value):
        if candidate.is_dir():
            return candidate
    raise FineTuneError(f"dataset {value}: no such folder (a folder with {TRAIN} from `taustack dataset to-openai`)")


def count_examples(path: Path) -> int:
    """The lines of a chat fine-tuning file; the first line that is not a JSON object with a non-empty
    "messages" list (and, when present, a "tools" list) raises an error naming the file and the line."""
    count = 0
    for number, record in iter_jsonl(path, "fine-tuning file", FineTuneError):
        messages = record.get("messages") if isinstance(record, dict) else None
        if not isinstance(messages, list) or not messages:
            raise FineTuneError(f"{path} line {number}: not a chat fine-tuning line "
                                "(a JSON object with a non-empty \"messages\" list)")
        if "tools" in record and not isinstance(record["tools"], list):
            raise FineTuneError(f"{path} line {number}: \"tools\" must be a list")
        count += 1
    return count


def check_dataset(value: str, validation: bool) -> FineTuneData:
    """Find the folder and check its files; an empty test.jsonl is not uploaded (the API refuses empty files)."""
    folder = dataset_folder(value)
    train = folder / TRAIN
    if not train.is_file():
        raise FineTuneError(f"dataset {folder}: no {TRAIN} (make one with `taustack dataset to-openai`)")
    train_examples = count_examples(train)
    if train_examples == 0:
        raise FineTuneError(f"{train}: no examples")
    test: Path | None = folder / TEST
    test_examples = count_examples(test) if validation and test is not None and test.is_file() else 0
    if test_examples == 0:
        test = None
    return FineTuneData(folder, train, train_examples, test, test_examples, dataset_sha256(folder))
