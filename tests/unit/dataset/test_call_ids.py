"""Tool-call ids tau2 left empty ("" is ToolCall.id's default) or repeated: every call is paired with its own result,
the example's ids are unique, and the conversion always ends (run under a deadline so a hang fails, not stalls)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taustack.dataset.make import MakeOptions, make_dataset
from tests.helpers import ROOT, SUBPROCESS_ENV, TAU2_RESULTS, run_cli

AIRLINE = TAU2_RESULTS / "gpt-4.1_airline_default_1trial.json"
TELECOM = TAU2_RESULTS / "gpt-4.1_telecom_default_1trial.json"
ALPHABET = ("", "", "c", "c", "c_1", "c_2", "c_3", "call_1", "call_2", "x")
CONVERT_EACH = """
import json, sys
from taustack.dataset.convert import convert
out = [{"messages": c.messages, "repairs": dict(c.repairs)} for c in map(convert, json.load(open(sys.argv[1])))]
json.dump(out, open(sys.argv[2], "w"))
"""
DEADLINE_S = 60


def convert_under_deadline(simulations: list[list[dict[str, Any]]], tmp: Path) -> list[dict[str, Any]]:
    """convert() of each message list in a subprocess, killed after DEADLINE_S: a renaming loop fails the test."""
    source, target = tmp / "in.json", tmp / "out.json"
    source.write_text(json.dumps(simulations))
    try:
        subprocess.run([sys.executable, "-c", CONVERT_EACH, str(source), str(target)], cwd=ROOT, check=True,
                       timeout=DEADLINE_S, env={**os.environ, **SUBPROCESS_ENV})
    except subprocess.TimeoutExpired:
        pytest.fail(f"converting {len(simulations)} simulations did not finish within {DEADLINE_S} s", pytrace=False)
    result: list[dict[str, Any]] = json.loads(target.read_text())
    return result


def _in_order_per_id(rng: random.Random, ids: list[str]) -> list[int]:
    """A random order of the results in which results with the same id keep their calls' order (as tau2 does)."""
    order = list(range(len(ids)))
    rng.shuffle(order)
    queues = {key: iter(sorted(k for k in order if ids[k] == key)) for key in set(ids)}
    return [next(queues[ids[k]]) for k in order]


Call = tuple[str, bool, bool]  # tau2 id, valid (invalid ones are left out, their results too), answered


def random_simulation(rng: random.Random) -> tuple[list[dict[str, Any]], list[Call]]:
    """tau2-shaped messages with calls whose ids come from a small alphabet, a few of them invalid (no name); and
    each call in call order."""
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": "Hi! How can I help you today?"},
                                      {"role": "user", "content": "Please look things up."}]
    all_calls: list[Call] = []
    turns = rng.randint(1, 5)
    for turn in range(turns):
        ids = [rng.choice(ALPHABET) for _ in range(rng.randint(1, 4))]
        valid = [rng.random() > 0.1 for _ in ids]
        messages.append({"role": "assistant", "content": None, "turn_idx": len(messages), "tool_calls": [
            {"id": key, "name": "lookup" if valid[k] else "", "arguments": {"token": f"{turn}.{k}"},
             "requestor": "assistant"} for k, key in enumerate(ids)]})
        if turn == turns - 1 and rng.random() < 0.2:  # ended (max_steps) right after the calls: never answered
            return messages, all_calls + [(key, ok, False) for key, ok in zip(ids, valid, strict=True)]
        all_calls += [(key, ok, True) for key, ok in zip(ids, valid, strict=True)]
        order = list(range(len(ids))) if rng.random() < 0.5 else _in_order_per_id(rng, ids)
        results = [{"role": "tool", "id": ids[k], "content": f"result of {turn}.{k}", "requestor": "assistant",
                    "error": False} for k in order]
        if rng.random() < 0.3:
            messages.append({"role": "tool", "tool_messages": results})
        else:
            messages += results
        if rng.random() < 0.5:
            messages += [{"role": "assistant", "content": "Found it."}, {"role": "user", "content": "And next?"}]
    messages.append({"role": "assistant", "content": "That is everything."})
    return messages, all_calls


def turns_of(messages: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any], list[dict[str, Any]]]]:
    """(index, assistant message with calls, the tool messages right after it)."""
    for index, message in enumerate(messages):
        if message["role"] == "assistant" and message.get("tool_calls"):
            end = index + 1
            while end < len(messages) and messages[end]["role"] == "tool":
                end += 1
            yield index, message, messages[index + 1:end]


def assert_every_call_answered(messages: list[dict[str, Any]], by_content: bool = False) -> None:
    """Ids unique and non-empty; each call of a turn answered once by the tool messages right after it (the last
    turn may be unanswered); with BY_CONTENT, each result is the one written for its call's token."""
    ids = [c["id"] for m in messages for c in m.get("tool_calls", [])]
    assert all(isinstance(i, str) and i for i in ids) and len(ids) == len(set(ids)), ids
    for index, assistant, results in turns_of(messages):
        token = {c["id"]: json.loads(c["function"]["arguments"]).get("token") for c in assistant["tool_calls"]}
        if index == len(messages) - 1:
            assert results == []
            continue
        assert Counter(r["tool_call_id"] for r in results) == Counter(list(token)), (assistant, results)
        if by_content:
            assert all(r["content"] == f"result of {token[r['tool_call_id']]}" for r in results), results


def test_random_id_sequences_pair_every_result_with_its_own_call(tmp_path: Path) -> None:
    """Property over 3000 seeded random id sequences (hypothesis is not a dependency here)."""
    rng = random.Random(20240924)
    cases = [random_simulation(rng) for _ in range(3000)]
    assert sum(any(key == "" for key, _, _ in calls) for _, calls in cases) > 1000
    assert sum(len(calls) > len({key for key, _, _ in calls}) for _, calls in cases) > 1000
    converted = convert_under_deadline([messages for messages, _ in cases], tmp_path)
    for (_, calls), result in zip(cases, converted, strict=True):
        messages, repairs = result["messages"], result["repairs"]
        assert_every_call_answered(messages, by_content=True)
        ids = [c["id"] for m in messages for c in m.get("tool_calls", [])]
        tau2_ids = [key for key, valid, _ in calls if valid]
        assert len(ids) == len(tau2_ids)  # no valid call dropped
        first = {key: ids[tau2_ids.index(key)] for key in set(tau2_ids) if key}
        assert all(first[key] == key for key in first)  # the first call with an id keeps it
        assert repairs.get("empty_call_id_named", 0) == tau2_ids.count("")
        assert repairs.get("duplicate_call_id_renamed", 0) == len([key for key in tau2_ids if key]) - len(first)
        left_out = len(calls) - len(tau2_ids)
        assert repairs.get("invalid_tool_call_removed", 0) == left_out
        assert repairs.get("orphan_tool_result_removed", 0) == sum(answered and not ok for _, ok, answered in calls)
        assert not repairs.get("unanswered_call_removed")


def test_the_reported_hanging_sequence_ends(tmp_path: Path) -> None:
    calls = [{"id": key, "name": "lookup", "arguments": {"token": str(k)}} for k, key in enumerate(("c", "c_2", "c"))]
    raw = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": calls},
           *({"role": "tool", "id": c["id"], "content": f"result of {k}", "requestor": "assistant"}
             for k, c in enumerate(calls)),
           {"role": "assistant", "content": "done"}]
    [result] = convert_under_deadline([raw], tmp_path)
    assert_every_call_answered(result["messages"], by_content=True)
    assert [c["id"] for c in result["messages"][1]["tool_calls"]][:2] == ["c", "c_2"]


def mangle(source: Path, target: Path, pattern: tuple[str, ...]) -> int:
    """A copy of a real tau2 results file where every call id (agent's and user's) and its results' ids follow
    PATTERN (cycled through each simulation's calls); the number of ids changed."""
    data = json.loads(source.read_text())
    changed = 0
    for simulation in data["simulations"]:
        new: dict[str, str] = {}  # the file's (unique) id -> its replacement
        for message in simulation["messages"]:
            for call in message.get("tool_calls") or []:
                new[call["id"]] = pattern[len(new) % len(pattern)]
                call["id"] = new[call["id"]]
                changed += 1
            if message["role"] == "tool":
                message["id"] = new[message["id"]]
    target.write_text(json.dumps(data))
    return changed


def canonical(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with call ids replaced by their order of appearance (ids themselves may differ)."""
    order: dict[str, str] = {}
    out = []
    for message in messages:
        message = dict(message)
        if message.get("tool_calls"):
            message["tool_calls"] = [{**c, "id": order.setdefault(c["id"], f"#{len(order)}")}
                                     for c in message["tool_calls"]]
        if message["role"] == "tool":
            message["tool_call_id"] = order[message["tool_call_id"]]
        out.append(message)
    return out


def examples_of(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "examples.jsonl").read_text().splitlines()
    return {e["id"]: e for e in map(json.loads, lines)}


@pytest.mark.parametrize(("source", "pattern"), [(AIRLINE, ("",)), (AIRLINE, ("c", "c_2", "c")),
                                                 (TELECOM, ("",)), (TELECOM, ("c", "c_2", "c"))],
                         ids=["airline-empty", "airline-repeated", "telecom-empty", "telecom-repeated"])
def test_real_results_with_empty_or_repeated_ids(tmp_path: Path, source: Path, pattern: tuple[str, ...]) -> None:
    """`dataset make` on real tau2 results whose ids are "" or repeat gives what the unique ids give."""
    reference = tmp_path / "reference"
    expected = make_dataset(MakeOptions(name="reference", results=(source,), out=reference), show_progress=False)
    mangled = tmp_path / "mangled.json"
    assert mangle(source, mangled, pattern) > 100
    try:
        result = run_cli("dataset", "make", "--results", str(mangled), "--name", "m", "--out", str(tmp_path / "m"),
                         timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("`taustack dataset make` did not finish within 120 s", pytrace=False)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["simulations"] == expected["simulations"]
    assert manifest["user_tool_calls"] == expected["user_tool_calls"]
    for kind in ("unanswered_call_removed", "orphan_tool_result_removed", "empty_assistant_removed"):
        assert manifest["repairs"][kind] == expected["repairs"][kind] == 0, kind
    wanted, got = examples_of(reference), examples_of(tmp_path / "m")
    assert set(got) == set(wanted)
    for key, example in got.items():
        assert canonical(example["messages"]) == canonical(wanted[key]["messages"]), key
        assert_every_call_answered(example["messages"])  # no turn states results it never fetched
