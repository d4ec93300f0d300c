"""`dataset make`: tau2 results -> one example per kept simulation (examples.jsonl) and manifest.json.

Each simulation is filtered, converted (convert.py) and written to a per-source spool file in a temporary folder;
a bad file's spool and counts are discarded. Dedup runs as examples arrive; sampling and the split by task run
once everything is read; the folder replaces the old one (with --overwrite) only when complete.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taustack import __version__
from taustack.dataset.catalog import Catalogs
from taustack.dataset.convert import REPAIRS, USER_SIDE, convert
from taustack.dataset.results import (
    DatasetError,
    ResultsFileError,
    RunInfo,
    Source,
    find_sources,
    iter_simulations,
    read_run_info,
)
from taustack.dataset.runsetup import RunSetup, ToolTable, setup_run
from taustack.dataset.solo import DONE_REPAIR, restore_done_call
from taustack.dataset.splits import assign_splits
from taustack.fileio import write_json

EXAMPLES = "examples.jsonl"
MANIFEST = "manifest.json"
DROP_REASONS = ("termination_reason", "domain", "agent_model", "reward_below_threshold", "no_ticket",
                "no_assistant_turn", "duplicate", "sampled_out")


@dataclass(frozen=True)
class MakeOptions:
    """Everything `dataset make` was asked for (recorded in the manifest)."""

    name: str
    results: tuple[Path, ...]
    out: Path
    min_reward: float | None = None
    terminations: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    agent_models: frozenset[str] = frozenset()
    dedup: bool = True
    split: str = "tau2"
    test_fraction: float = 0.2
    seed: int = 0
    max_per_task: int | None = None
    sample: int | None = None
    catalog: Path | None = None
    overwrite: bool = False


@dataclass
class Candidate:
    """A kept example in a spool: where it is and what sampling and splitting need."""

    spool: int
    line: int
    domain: str
    task_id: str


@dataclass
class Tally:
    """Counts of one source (merged into the totals only when the source was read to its end)."""

    seen: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    repairs: Counter[str] = field(default_factory=Counter)
    user_side: Counter[str] = field(default_factory=Counter)
    simulations_with_user_tools: int = 0
    candidates: list[Candidate] = field(default_factory=list)
    digests: set[str] = field(default_factory=set)


def _dropped_by_filter(simulation: dict[str, Any], run: RunInfo, options: MakeOptions, where: str) -> str | None:
    if options.terminations and str(simulation.get("termination_reason")) not in options.terminations:
        return "termination_reason"
    if options.domains and run.domain not in options.domains:
        return "domain"
    if options.agent_models and run.agent_model not in options.agent_models:
        return "agent_model"
    if options.min_reward is not None:
        reward = _reward(simulation)
        if reward is None:
            raise DatasetError(f"{where}: simulation {simulation.get('id')} has no reward_info.reward, so "
                               "--success-only/--min-reward cannot apply (filter it out with --termination)")
        if reward < options.min_reward - 1e-9:
            return "reward_below_threshold"
    return None


def _reward(simulation: dict[str, Any]) -> float | None:
    info = simulation.get("reward_info")
    reward = info.get("reward") if isinstance(info, dict) else None
    return float(reward) if isinstance(reward, (int, float)) else None


def _example(simulation: dict[str, Any], run: RunInfo, setup: RunSetup, source: str,
             tally: Tally) -> dict[str, Any] | str:
    """The example of one simulation, or the reason it has none."""
    task_id = str(simulation.get("task_id"))
    system = setup.system_prompt(run.tickets.get(task_id))
    if setup.solo and system is None:
        return "no_ticket"
    conversion = convert(simulation.get("messages") or [])
    if setup.solo and restore_done_call(conversion.messages):
        conversion.repairs[DONE_REPAIR] += 1
    tally.repairs.update(conversion.repairs)
    tally.user_side.update(conversion.user_side)
    tally.simulations_with_user_tools += bool(conversion.user_side["user_tool_calls_dropped"])
    if not any(m["role"] == "assistant" for m in conversion.messages):
        return "no_assistant_turn"
    messages = ([{"role": "system", "content": system}] if system else []) + conversion.messages
    return {"id": str(simulation.get("id")), "messages": messages, "tools_key": setup.tools_key,
            "calls": conversion.calls,
            "provenance": {"source": source, "simulation_id": str(simulation.get("id")), "task_id": task_id,
                           "trial": simulation.get("trial"), "reward": _reward(simulation),
                           "termination_reason": simulation.get("termination_reason"),
                           "agent_model": run.agent_model, "agent_implementation": run.implementation,
                           "domain": run.domain}}


def _read_source(source: Source, index: int, spool: Path, options: MakeOptions, catalogs: Catalogs,
                 table: ToolTable, known: set[str], advance: Callable[[int], None]) -> tuple[Tally, dict[str, Any]]:
    """Filter and convert one source's simulations into spool file `index`; raises ResultsFileError when broken."""
    run = read_run_info(source)
    name = str(source.path)
    setup = setup_run(run, catalogs, table, name)
    tally = Tally()
    with spool.open("w", encoding="utf-8") as out:
        for simulation in iter_simulations(source, advance):
            tally.seen += 1
            reason = _dropped_by_filter(simulation, run, options, name)
            example = reason or _example(simulation, run, setup, name, tally)
            if isinstance(example, str):
                tally.dropped[example] += 1
                continue
            digest = hashlib.sha256(json.dumps([run.domain, example["messages"]], sort_keys=True)
                                    .encode()).hexdigest()
            if options.dedup and (digest in known or digest in tally.digests):
                tally.dropped["duplicate"] += 1
                continue
            tally.digests.add(digest)
            if setup.tools_key.startswith("inferred:"):
                table.observe(run.domain, example["calls"])
            del example["calls"]
            out.write(json.dumps(example, ensure_ascii=False) + "\n")
            tally.candidates.append(Candidate(index, len(tally.candidates), run.domain,
                                              example["provenance"]["task_id"]))
    described = {"path": name, "layout": source.layout, "domain": run.domain, "agent_model": run.agent_model,
                 "agent_implementation": run.implementation, "simulations": tally.seen,
                 "kept_before_sampling": len(tally.candidates), "system_prompt": setup.prompt_source,
                 "tools": setup.tools_source}
    return tally, described


def _sample(candidates: list[Candidate], options: MakeOptions) -> list[Candidate]:
    """--max-per-task, then --sample N; seeded; the kept ones stay in reading order."""
    rng = random.Random(options.seed)
    kept = candidates
    if options.max_per_task is not None:
        by_task: dict[tuple[str, str], list[Candidate]] = {}
        for candidate in kept:
            by_task.setdefault((candidate.domain, candidate.task_id), []).append(candidate)
        kept = [c for key in sorted(by_task) for c in
                (rng.sample(by_task[key], options.max_per_task) if len(by_task[key]) > options.max_per_task
                 else by_task[key])]
    if options.sample is not None and len(kept) > options.sample:
        kept = rng.sample(kept, options.sample)
    return sorted(kept, key=lambda c: (c.spool, c.line))


@contextmanager
def _staging(out: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder beside OUT that becomes OUT on success and vanishes on error."""
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} exists: pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        yield staging
        old = out.parent / f".{out.name}.old"
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        staging.chmod(0o755)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def make_dataset(options: MakeOptions, show_progress: bool | None = None) -> dict[str, Any]:
    """Read every source, write OUT/examples.jsonl and OUT/manifest.json; returns the manifest."""
    sources = find_sources(options.results)
    if not sources:
        raise DatasetError("no results files found in " + ", ".join(str(p) for p in options.results))
    catalogs, table = Catalogs(options.catalog), ToolTable()
    with _staging(options.out, options.overwrite) as staging:
        totals, described, skipped, candidates = Tally(), [], [], []
        with _progress(sources, show_progress) as advance:
            for index, source in enumerate(sources):
                spool = staging / f".spool-{index}.jsonl"
                try:
                    tally, about = _read_source(source, index, spool, options, catalogs, table, totals.digests,
                                                advance)
                except ResultsFileError as exc:
                    skipped.append({"path": str(source.path), "error": str(exc)})
                    spool.unlink(missing_ok=True)
                    continue
                except DatasetError as exc:
                    if source.explicit or "not a tau2 results file" not in str(exc):
                        raise
                    skipped.append({"path": str(source.path), "error": str(exc)})
                    spool.unlink(missing_ok=True)
                    continue
                described.append(about)
                totals.seen += tally.seen
                for counter in ("dropped", "repairs", "user_side"):
                    getattr(totals, counter).update(getattr(tally, counter))
                totals.simulations_with_user_tools += tally.simulations_with_user_tools
                totals.digests |= tally.digests
                candidates.extend(tally.candidates)
        selected = _sample(candidates, options)
        totals.dropped["sampled_out"] += len(candidates) - len(selected)
        splits = assign_splits({(c.domain, c.task_id) for c in selected}, options.split, catalogs,
                               options.test_fraction, options.seed)
        counts = _write_examples(staging, selected, splits, table)
        manifest = _manifest(options, totals, described, skipped, selected, splits, counts, table)
        write_json(staging / MANIFEST, manifest)
        for spool in staging.glob(".spool-*.jsonl"):
            spool.unlink()
    return manifest


def _write_examples(staging: Path, selected: list[Candidate], splits: dict[tuple[str, str], str],
                    table: ToolTable) -> Counter[str]:
    wanted = {(c.spool, c.line) for c in selected}
    counts: Counter[str] = Counter()
    with (staging / EXAMPLES).open("w", encoding="utf-8") as out:
        for spool in sorted(staging.glob(".spool-*.jsonl"), key=lambda p: int(p.stem.split("-")[1])):
            index = int(spool.stem.split("-")[1])
            with spool.open(encoding="utf-8") as lines:
                for number, line in enumerate(lines):
                    if (index, number) not in wanted:
                        continue
                    example = json.loads(line)
                    provenance = example["provenance"]
                    split = splits[(provenance["domain"], provenance["task_id"])]
                    counts[split] += 1
                    record = {"id": example["id"], "split": split, "messages": example["messages"],
                              "tools": table.resolve(example["tools_key"]), "provenance": provenance}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return counts


def _manifest(options: MakeOptions, totals: Tally, described: list[dict[str, Any]], skipped: list[dict[str, Any]],
              selected: list[Candidate], splits: dict[tuple[str, str], str], counts: Counter[str],
              table: ToolTable) -> dict[str, Any]:
    dropped = {reason: totals.dropped.get(reason, 0) for reason in DROP_REASONS}
    assert len(selected) + sum(dropped.values()) == totals.seen, "every simulation must be accounted for"
    tasks = Counter(splits.values())
    by_domain: dict[str, Counter[str]] = {}
    for candidate in selected:
        by_domain.setdefault(candidate.domain, Counter())[splits[(candidate.domain, candidate.task_id)]] += 1
    return {
        "name": options.name, "format": "taustack-dataset/1", "made_by": f"taustack {__version__}",
        "examples_file": EXAMPLES,
        "options": {"results": [str(p) for p in options.results], "min_reward": options.min_reward,
                    "termination_reasons": sorted(options.terminations), "domains": sorted(options.domains),
                    "agent_models": sorted(options.agent_models), "dedup": options.dedup, "split": options.split,
                    "test_fraction": options.test_fraction if options.split == "random" else None,
                    "seed": options.seed, "max_per_task": options.max_per_task, "sample": options.sample,
                    "catalog": str(options.catalog) if options.catalog else None},
        "simulations": {"seen": totals.seen, "kept": len(selected), "dropped": dropped},
        "splits": {name: {"examples": counts.get(name, 0), "tasks": tasks.get(name, 0)} for name in ("train", "test")},
        "by_domain": {domain: {"train": c.get("train", 0), "test": c.get("test", 0)}
                      for domain, c in sorted(by_domain.items())},
        "repairs": {kind: totals.repairs.get(kind, 0) for kind in (*REPAIRS, DONE_REPAIR)},
        "user_tool_calls": {"policy": "dropped: the agent never saw the user's own tool calls or their results",
                            "simulations": totals.simulations_with_user_tools,
                            **{kind: totals.user_side.get(kind, 0) for kind in USER_SIDE}},
        "tools": {key: {"source": table.sources.get(key, "inferred"), "names": [t["function"]["name"] for t in tools]}
                  for key, tools in sorted(table.tools.items())},
        "sources": described,
        "skipped_files": skipped,
    }


@contextmanager
def _progress(sources: list[Source], show: bool | None) -> Iterator[Callable[[int], None]]:
    """Bytes read, on stderr, only when it is a terminal."""
    if not (sys.stderr.isatty() if show is None else show):
        yield lambda _bytes: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    total = sum(s.size_bytes() for s in sources)
    columns = (TextColumn("reading results"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as progress:
        task = progress.add_task("read", total=total)
        yield lambda n: progress.advance(task, n)
