"""The journal: appended lines, a line cut short by a kill is dropped, the last line of a pair wins."""

from __future__ import annotations

import json
from pathlib import Path

from taustack.eval.journal import Journal, latest_by_pair, read_lines
from taustack.eval.keys import files_holding


def test_append_read_and_a_torn_last_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.append({"id": "a", "task_id": "t1", "trial": 0})
    journal.append({"id": "b", "task_id": "t2", "trial": 0})
    with journal.path.open("ab") as handle:
        handle.write(b'{"id": "c", "task_id": "t1", "tri')  # killed mid-write
    lines, offset = read_lines(journal.path)
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]
    journal.append({"id": "d", "task_id": "t1", "trial": 0})  # a rerun after resume, on a line of its own
    lines, _ = read_lines(journal.path)
    assert [json.loads(line)["id"] for line in lines] == ["a", "b", "d"]
    assert latest_by_pair(lines)[("t1", 0)][0] == "d"
    more, _ = read_lines(journal.path, offset)
    assert [json.loads(line)["id"] for line in more] == ["d"]


def test_key_scan_finds_a_key_across_block_boundaries(tmp_path: Path) -> None:
    key = "sk-" + "k" * 40
    (tmp_path / "clean.json").write_text("{}")
    big = tmp_path / "sub" / "big.log"
    big.parent.mkdir()
    big.write_bytes(b"x" * ((1 << 20) - 10) + key.encode() + b"\n")
    assert files_holding(tmp_path, [key]) == [big]
    assert files_holding(tmp_path, ["sk-not-there"]) == []
