"""Stream tau2-bench results: single files, folders of them, and tau2's folder layout (results.json + simulations/).

Simulations are parsed one at a time with ijson (`simulations.item`), so a 1 GB file never sits in memory; the
run's `info` and `tasks` are read by a first, short pass that stops where the simulations begin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import ijson  # type: ignore[import-untyped]

from taustack.errors import TaustackError

SOLO_IMPLEMENTATIONS = frozenset({"llm_agent_solo", "llm_agent_v2_solo", "taustack_oracle_solo"})


class DatasetError(TaustackError):
    """Bad input for a dataset command (not tau2 results, a filter that cannot apply, existing output...)."""


class ResultsFileError(DatasetError):
    """A results file that cannot be read to its end (malformed or truncated): reported and skipped."""


@dataclass(frozen=True)
class Source:
    """One run: a results file, or a tau2 folder (results.json + simulations/<id>.json)."""

    path: Path
    layout: str  # "file" or "directory"
    explicit: bool  # named on the command line (not found by searching a folder)

    @property
    def header_file(self) -> Path:
        return self.path / "results.json" if self.layout == "directory" else self.path

    def size_bytes(self) -> int:
        if self.layout == "file":
            return self.path.stat().st_size
        return self.header_file.stat().st_size + sum(p.stat().st_size for p in self.simulation_files())

    def simulation_files(self) -> list[Path]:
        folder = self.path / "simulations"
        return sorted(folder.glob("*.json")) if self.layout == "directory" and folder.is_dir() else []


@dataclass(frozen=True)
class RunInfo:
    """What a run says about itself: domain, agent, policy and tools when stored, and each task's ticket."""

    domain: str
    implementation: str
    agent_model: str
    policy: str | None
    tool_defs: Any
    tickets: dict[str, str | None] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # the run's whole `info`, as stored
    tasks: list[dict[str, Any]] = field(default_factory=list)  # the run's `tasks[]`, as stored

    @property
    def solo(self) -> bool:
        return self.implementation in SOLO_IMPLEMENTATIONS


def is_tau2_folder(path: Path) -> bool:
    return (path / "results.json").is_file() and (path / "simulations").is_dir()


def find_sources(paths: Sequence[Path]) -> list[Source]:
    """Each --results value: a file, a tau2 folder, or a folder searched recursively for both."""
    sources: list[Source] = []
    for path in paths:
        if path.is_file():
            sources.append(Source(path, "file", True))
        elif path.is_dir() and is_tau2_folder(path):
            sources.append(Source(path, "directory", True))
        elif path.is_dir():
            sources.extend(_search(path))
        else:
            raise DatasetError(f"--results {path}: no such file or folder")
    unique: dict[Path, Source] = {}
    for source in sources:
        unique.setdefault(source.path.resolve(), source)
    return list(unique.values())


def _search(folder: Path) -> list[Source]:
    found: list[Source] = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            found.extend([Source(entry, "directory", False)] if is_tau2_folder(entry) else _search(entry))
        elif entry.suffix == ".json" and entry.is_file():
            found.append(Source(entry, "file", False))
    return found


def _header(handle: BinaryIO) -> tuple[Any, list[Any] | None, bool]:
    """(info, tasks, has simulations) from the top of a results file, stopping where the simulations start."""
    info: Any = None
    tasks: list[Any] | None = None
    has_info = has_simulations = False
    builder: Any = None
    building = ""
    for prefix, event, value in ijson.parse(handle, use_float=True):
        if builder is not None:
            builder.event(event, value)
            if prefix == building and event in ("end_map", "end_array"):
                if building == "info":
                    info, has_info = builder.value, True
                else:
                    tasks = builder.value
                builder = None
            continue
        if prefix == "" and event == "map_key":
            has_simulations = has_simulations or value == "simulations"
            if value == "simulations" and has_info:
                break
        elif prefix in ("info", "tasks") and event in ("start_map", "start_array"):
            builder, building = ijson.ObjectBuilder(), prefix
            builder.event(event, value)
        elif prefix == "info":
            info, has_info = value, True
        elif prefix == "" and event not in ("start_map", "end_map"):
            raise DatasetError("not a tau2 results file (the top level is not a JSON object)")
    return info, tasks, has_simulations


def read_run_info(source: Source) -> RunInfo:
    """The run's info; DatasetError when the file is JSON but not tau2 results, ResultsFileError when unreadable."""
    try:
        with source.header_file.open("rb") as handle:
            info, tasks, has_simulations = _header(handle)
    except OSError as exc:
        raise ResultsFileError(f"{source.header_file}: {exc.strerror}") from None
    except ijson.JSONError as exc:
        raise ResultsFileError(f"{source.header_file}: not valid JSON ({_short(exc)})") from None
    if not isinstance(info, dict) or not (has_simulations or source.layout == "directory"):
        raise DatasetError(f"{source.header_file}: not a tau2 results file (needs 'info' and 'simulations')")
    environment = info.get("environment_info") or {}
    agent = info.get("agent_info") or {}
    domain = environment.get("domain_name")
    if not isinstance(domain, str) or not domain:
        raise DatasetError(f"{source.header_file}: not a tau2 results file (no info.environment_info.domain_name)")
    tickets = {str(t.get("id")): t.get("ticket") for t in tasks or [] if isinstance(t, dict)}
    return RunInfo(domain=domain, implementation=str(agent.get("implementation") or "llm_agent"),
                   agent_model=str(agent.get("llm") or "unknown"), policy=environment.get("policy") or None,
                   tool_defs=environment.get("tool_defs"), tickets=tickets, info=info,
                   tasks=[t for t in tasks or [] if isinstance(t, dict)])


def iter_simulations(source: Source, on_bytes: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
    """Every simulation of the run, one at a time; ResultsFileError where the JSON breaks (after what came before)."""
    seen: set[str] = set()
    if source.layout == "directory":
        for path in source.simulation_files():
            simulation = _read_one(path)
            seen.add(str(simulation.get("id")))
            if on_bytes:
                on_bytes(path.stat().st_size)
            yield simulation
    header = source.header_file
    try:
        with header.open("rb") as handle:
            last = 0
            for simulation in ijson.items(handle, "simulations.item", use_float=True):
                if on_bytes:
                    position = handle.tell()
                    on_bytes(position - last)
                    last = position
                if not isinstance(simulation, dict):
                    raise ResultsFileError(f"{header}: a simulation is not a JSON object")
                if str(simulation.get("id")) not in seen:
                    yield simulation
    except OSError as exc:
        raise ResultsFileError(f"{header}: {exc.strerror}") from None
    except ijson.JSONError as exc:
        raise ResultsFileError(f"{header}: {_short(exc)}") from None


def _read_one(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            simulation = next(ijson.items(handle, "", use_float=True))
    except OSError as exc:
        raise ResultsFileError(f"{path}: {exc.strerror}") from None
    except (ijson.JSONError, StopIteration) as exc:
        raise ResultsFileError(f"{path}: {_short(exc) or 'empty file'}") from None
    if not isinstance(simulation, dict):
        raise ResultsFileError(f"{path}: not a simulation (a JSON object)")
    return simulation


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "incomplete" in text.lower() or "premature" in text.lower():
        return f"truncated JSON ({text})"
    return text[:200]
