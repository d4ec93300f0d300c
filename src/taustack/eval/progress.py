"""A progress bar per cell, fed by the cells' journals: simulations done, running pass^1, ETA."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from taustack.eval.journal import read_lines
from taustack.eval.manifest import Cell, RunDir

SUCCESS = 1e-6  # tau2's is_successful: reward within 1e-6 of 1


class CellTally:
    """The latest outcome of each (task, trial) pair of one cell, read incrementally from its journal."""

    def __init__(self, journal: Path, infra_ids: set[str] | None = None) -> None:
        self.journal = journal
        self.offset = 0
        self.outcomes: dict[tuple[str, int], bool] = {}
        self.ids: dict[tuple[str, int], str] = {}
        self.infra_ids = infra_ids or set()

    def update(self) -> None:
        lines, self.offset = read_lines(self.journal, self.offset)
        for line in lines:
            simulation = json.loads(line)
            pair = (str(simulation["task_id"]), int(simulation["trial"]))
            reward = (simulation.get("reward_info") or {}).get("reward")
            self.outcomes[pair] = reward is not None and abs(float(reward) - 1.0) < SUCCESS
            self.ids[pair] = str(simulation["id"])

    def done(self) -> int:
        return sum(1 for pair, sim_id in self.ids.items() if sim_id not in self.infra_ids)

    def pass1(self) -> float | None:
        """Mean over tasks of each task's success rate so far (pass^1 as tau2 averages it)."""
        by_task: dict[str, list[bool]] = {}
        for (task, _), success in self.outcomes.items():
            by_task.setdefault(task, []).append(success)
        if not by_task:
            return None
        return sum(sum(v) / len(v) for v in by_task.values()) / len(by_task)


class RunProgress:
    """One bar per cell on stderr (plain lines when it is not a terminal)."""

    def __init__(self, run_dir: RunDir, cells: list[Cell], console: Console) -> None:
        self.tallies = {cell.id: CellTally(run_dir.journal(cell)) for cell in cells}
        self.totals = {cell.id: cell.simulations for cell in cells}
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("pass^1 {task.fields[pass1]}"), TimeRemainingColumn(), console=console,
                                 transient=False)
        self.bars: dict[str, TaskID] = {}

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        for cell_id, total in self.totals.items():
            self.bars[cell_id] = self.progress.add_task(cell_id, total=total, pass1="-")
        self.refresh()
        return self

    def __exit__(self, *exc: object) -> None:
        self.refresh()
        self.progress.__exit__(None, None, None)

    def refresh(self, infra_ids: dict[str, set[str]] | None = None) -> None:
        for cell_id, tally in self.tallies.items():
            if infra_ids is not None:
                tally.infra_ids = infra_ids.get(cell_id, set())
            tally.update()
            pass1 = tally.pass1()
            self.progress.update(self.bars[cell_id], completed=tally.done(),
                                 pass1="-" if pass1 is None else f"{pass1:.2f}")
