"""Train/test split by task, never by trajectory: tau2's own task splits, or a seeded random split of the tasks."""

from __future__ import annotations

import random

from taustack.dataset.catalog import Catalogs
from taustack.dataset.results import DatasetError

SPLIT_MODES = ("tau2", "random")
TaskKey = tuple[str, str]  # (domain, task id)


def assign_splits(tasks: set[TaskKey], mode: str, catalogs: Catalogs, test_fraction: float,
                  seed: int) -> dict[TaskKey, str]:
    """'train' or 'test' for every task; all examples of a task share it."""
    if mode == "tau2":
        return {key: _tau2_split(key, catalogs) for key in sorted(tasks)}
    if mode == "random":
        return random_split(tasks, test_fraction, seed)
    raise DatasetError(f"unknown split mode {mode!r} (use one of: {', '.join(SPLIT_MODES)})")


def _tau2_split(key: TaskKey, catalogs: Catalogs) -> str:
    domain, task_id = key
    catalog = catalogs.get(domain)
    if catalog is None or not catalog.task_splits:
        raise DatasetError(f"--split tau2: no catalog has task splits for domain {domain!r} (use --split random)")
    split = catalog.split_of(task_id)
    if split is None:
        raise DatasetError(f"--split tau2: task {task_id!r} of domain {domain!r} is in neither tau2's train nor "
                           "test split (use --split random)")
    return split


def random_split(tasks: set[TaskKey], test_fraction: float, seed: int) -> dict[TaskKey, str]:
    """round(n * fraction) tasks to test (at least one when there are two or more and fraction > 0)."""
    if not 0 <= test_fraction < 1:
        raise DatasetError(f"--test-fraction {test_fraction}: must be in [0, 1)")
    ordered = sorted(tasks)
    random.Random(seed).shuffle(ordered)
    test_count = round(len(ordered) * test_fraction)
    if test_fraction > 0 and test_count == 0 and len(ordered) >= 2:
        test_count = 1
    test = set(ordered[:test_count])
    return {key: "test" if key in test else "train" for key in sorted(tasks)}
