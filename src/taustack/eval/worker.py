"""One grid cell in its own process: `python -m taustack.eval.worker RUN_DIR CELL_ID`.

tau2 keeps its agent registry and judge settings in module globals, so each cell gets a fresh interpreter. The
cell runs the (task, trial) pairs its journal does not hold yet (an infrastructure error is run again), appends each
finished simulation to the journal, and writes the results file once, at the end or when stopped (SIGTERM/SIGINT).
Exit codes: 0 every simulation ran; 4 some ended in an infrastructure error; 1 the cell could not run.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

from taustack import __version__
from taustack.agents.register import AGENT_NAMES
from taustack.eval import tau2_26_3 as tau2
from taustack.eval.failures import classify
from taustack.eval.journal import Journal, latest_by_pair, read_lines, read_records
from taustack.eval.manifest import Cell, ModelRecord, RunDir
from taustack.eval.taskhash import task_hash
from taustack.fileio import write_atomic
from taustack.runtime.sessions import SessionCloser

EXIT_INFRA = 4


def llm_args(record: ModelRecord | None, cell: Cell) -> dict[str, Any]:
    if record is None:
        return {}
    return {**record.args, "api_base": record.base_url, "num_retries": cell.max_retries}


def key_variables(cell: Cell) -> dict[str, str]:
    return {m.base_url.rstrip("/"): m.key_env for m in (cell.agent_model, cell.user_model, cell.judge_model)
            if m is not None and m.key_env}


class CellRun:
    def __init__(self, run_dir: RunDir, cell: Cell) -> None:
        self.run_dir, self.cell = run_dir, cell
        self.journal = Journal(run_dir.journal(cell))
        self.errors = Journal(run_dir.cell_errors(cell))
        self.secrets = tuple(os.environ[v] for v in key_variables(cell).values() if os.environ.get(v))
        self.cost_noise = 0
        agent = cell.agent_model  # taustack's agents send X-Session-ID; a gateway names its own episodes
        self.sessions = SessionCloser(agent.base_url, os.environ.get(agent.key_env) if agent.key_env else None,
                                      enabled=cell.tau2_agent in AGENT_NAMES and agent.via == "url")

    def infra_ids(self) -> set[str]:
        return {str(e["simulation_id"]) for e in read_records(self.errors.path) if e.get("kind") == "infrastructure"}

    def setup(self) -> None:
        tau2.configure_logging(os.environ.get("TAUSTACK_EVAL_LOG_LEVEL", "WARNING"), self.count_noise)
        tau2.use_keys_by_base_url(key_variables(self.cell))
        tau2.register_taustack_agents()
        judge = self.cell.judge_model
        if self.cell.nl_assertions and judge is not None:
            tau2.use_nl_judge(judge.model, llm_args(judge, self.cell))
        cell = self.cell
        by_id = {t.id: t for t in tau2.load_tasks(cell.domain, None, cell.task_ids, None, "default",
                                                  self.task_set())}
        self.tasks = [by_id[task_id] for task_id in cell.task_ids]
        for task in self.tasks:
            if task_hash(tau2.task_dict(task)) != cell.task_hashes.get(task.id):
                raise SystemExit(f"task {task.id} is not the task this run started with (tau2 {tau2.VERSION})")
        self.info = tau2.build_info(cell.domain, cell.tau2_agent, cell.tau2_user, cell.agent_model.model,
                                    llm_args(cell.agent_model, cell),
                                    cell.user_model.model if cell.user_model else None,
                                    llm_args(cell.user_model, cell), cell.trials, cell.max_steps, cell.max_errors,
                                    cell.seed, __version__)

    def task_set(self) -> str | None:
        """The cell's task file registered with tau2 (it must still be the file the run started with)."""
        if self.cell.tasks_file is None:
            return None
        from taustack.tasks.taskfile import read_task_file, register

        task_file = read_task_file(Path(self.cell.tasks_file))
        if task_file.sha256 != self.cell.tasks_file_sha256:
            raise SystemExit(f"{task_file.path} changed since this run started (sha256 {task_file.sha256[:12]}, "
                             f"recorded {str(self.cell.tasks_file_sha256)[:12]})")
        return register(task_file)

    def count_noise(self) -> None:
        self.cost_noise += 1

    def todo(self) -> list[tuple[Any, int]]:
        infra = self.infra_ids()
        latest = latest_by_pair(read_lines(self.journal.path)[0])
        return [(task, trial) for trial in range(self.cell.trials) for task in self.tasks
                if (task.id, trial) not in latest or latest[(task.id, trial)][0] in infra]

    def simulate(self, task: Any, trial: int) -> None:
        cell, seed = self.cell, self.cell.trial_seeds[trial]
        session_id = str(uuid.uuid4())  # the agent's X-Session-ID: its balancer is told when the episode is over
        try:
            simulation = tau2.run_simulation(cell.domain, task, cell.tau2_agent, cell.tau2_user,
                                             cell.agent_model.model, llm_args(cell.agent_model, cell),
                                             cell.user_model.model if cell.user_model else None,
                                             llm_args(cell.user_model, cell), cell.max_steps, cell.max_errors,
                                             seed, trial, cell.nl_assertions, session_id)
        except Exception as exc:
            failure = classify(exc, self.secrets)
            simulation = tau2.failed_simulation(task.id, trial, seed, failure.role)
            simulation.id = f"{task.id}_{trial}_failed_{uuid.uuid4().hex[:8]}"
            self.errors.append({"cell": cell.id, "simulation_id": simulation.id, "task_id": task.id, "trial": trial,
                                "kind": failure.kind, "role": failure.role, "cause": failure.cause})
            print(f"[{cell.id}] task {task.id} trial {trial}: {failure.kind} error: {failure.cause}", flush=True)
        finally:
            self.sessions.finish(session_id)
        self.journal.append(tau2.simulation_json(simulation))

    def write_results(self) -> None:
        latest = latest_by_pair(read_lines(self.journal.path)[0])
        order = {task.id: index for index, task in enumerate(self.tasks)}
        pairs = sorted((pair for pair in latest if pair[0] in order), key=lambda p: (p[1], order[p[0]]))
        text = tau2.results_json(self.info, self.tasks, [latest[pair][1] for pair in pairs])
        write_atomic(self.run_dir.results_file(self.cell), text + "\n")

    def run(self) -> int:
        todo = self.todo()
        started = time.monotonic()
        print(f"[{self.cell.id}] {len(todo)} of {self.cell.simulations} simulations to run", flush=True)
        executor = ThreadPoolExecutor(max_workers=self.cell.concurrency)
        try:
            for future in [executor.submit(self.simulate, task, trial) for task, trial in todo]:
                future.result()
        except KeyboardInterrupt:
            executor.shutdown(wait=False, cancel_futures=True)
            self.write_results()
            print(f"[{self.cell.id}] stopped: results so far written; taustack eval run --resume continues",
                  flush=True)
            os._exit(130)  # running simulations are abandoned: their pairs run again on resume
        executor.shutdown()
        self.write_results()
        if self.cost_noise:
            print(f"[{self.cell.id}] cost lookups skipped for {self.cost_noise} calls (self-hosted models have no "
                  f"price)", flush=True)
        left = len(self.todo())
        print(f"[{self.cell.id}] done in {time.monotonic() - started:.1f}s; {left} simulations ended in an "
              f"infrastructure error", flush=True)
        return EXIT_INFRA if left else 0


def interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def watch_parent(parent: int) -> None:
    """Stop like SIGTERM when the controller is gone (killed with SIGKILL): no cell outlives its run."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        _thread.interrupt_main()

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m taustack.eval.worker RUN_DIR CELL_ID", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the controller, which stops the cells
    watch_parent(os.getppid())
    tau2.quiet_imports()
    run_dir = RunDir(Path(argv[0]))
    cell_run = CellRun(run_dir, run_dir.read_manifest().cell(argv[1]))
    cell_run.setup()
    return cell_run.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
