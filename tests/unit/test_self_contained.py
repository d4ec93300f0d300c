"""The repository carries what its tests, benchmarks and demo read: no file names a folder beside the checkout."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.helpers import ROOT

OUTSIDE = re.compile(r"\.\./" + "shared" + r"|parent\s*/\s*[\"']" + "shared" + r"[\"']|[\"']" + "shared" + r"[\"']\s*/")
SKIPPED_DIRS = {".git", ".venv", "build", "compose/generated", "models", "runs", "datasets", "evals", ".mypy_cache",
                ".pytest_cache", ".ruff_cache"}


def project_files() -> list[Path]:
    """Tracked files where git knows them (a clone), else every file outside build outputs (a tarball)."""
    if (ROOT / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        return [ROOT / name for name in listed.decode().split("\0") if name]
    return [path for path in ROOT.rglob("*") if path.is_file()
            and not any(part in SKIPPED_DIRS for part in (path.relative_to(ROOT).as_posix(),
                                                          *path.relative_to(ROOT).parts))]


def test_no_tracked_file_reads_a_folder_beside_the_checkout() -> None:
    offenders = []
    for path in project_files():
        if path.resolve() == Path(__file__).resolve():  # its own examples below
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        offenders += [f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(text.splitlines(), 1)
                      if OUTSIDE.search(line)]
    assert not offenders, f"these name a folder beside the checkout (carry the data in the repo): {offenders}"


def test_the_pattern_finds_what_it_is_for() -> None:
    assert OUTSIDE.search("DATA = ROOT.parent / 'shared' / 'data'")
    assert OUTSIDE.search("cp ../" + "shared/data/x .")
    assert not OUTSIDE.search("state shared by all workers through the zone")


def test_the_tau2_data_the_tests_read_is_in_the_repo() -> None:
    results = sorted(p.name for p in (ROOT / "tests" / "data" / "tau2-results").glob("*.json"))
    assert len(results) == 4 and (ROOT / "tests" / "data" / "LICENSE.tau2").is_file()
