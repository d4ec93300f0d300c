"""`taustack dataset make / to-openai / stats` on the real tau2 results in tests/data."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from taustack.cli.main import main
from taustack.dataset.make import MakeOptions, make_dataset
from taustack.dataset.openai import write_openai
from taustack.dataset.openai_format import for_template, validate_record
from taustack.dataset.results import DatasetError
from tests.helpers import DOMAINS, ROOT, TAU2_RESULTS

RESULTS = TAU2_RESULTS
AIRLINE = RESULTS / "gpt-4.1_airline_default_1trial.json"
TELECOM = RESULTS / "gpt-4.1_telecom_default_1trial.json"


def make(tmp: Path, *results: Path, **options: Any) -> tuple[dict[str, Any], Path]:
    out = tmp / options.pop("name", "ds")
    manifest = make_dataset(MakeOptions(name=out.name, results=results, out=out, **options), show_progress=False)
    return manifest, out


def examples(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def accounted(manifest: dict[str, Any]) -> bool:
    counts = manifest["simulations"]
    return bool(counts["kept"] + sum(counts["dropped"].values()) == counts["seen"])


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """All four results files, no filters, written as OpenAI lines too."""
    manifest, out = make(tmp_path_factory.mktemp("all"), RESULTS)
    write_openai(out, overwrite=False)
    return manifest, out


def test_every_simulation_is_accounted_for(everything: tuple[dict[str, Any], Path]) -> None:
    manifest, out = everything
    assert manifest["simulations"]["seen"] == 150 and accounted(manifest)
    assert len(examples(out)) == manifest["simulations"]["kept"]
    assert {s["domain"] for s in manifest["sources"]} == {"airline", "retail", "telecom"}
    assert manifest["repairs"]["empty_assistant_removed"] == 9  # the qwen run's empty answers
    saved = json.loads((out / "manifest.json").read_text())
    assert saved == manifest


def test_every_openai_line_is_valid(everything: tuple[dict[str, Any], Path]) -> None:
    _, out = everything
    records = lines(out / "train.jsonl") + lines(out / "test.jsonl")
    assert len(records) == everything[0]["simulations"]["kept"]
    for record in records:
        assert validate_record(record) == [], record["messages"][1:3]
        assert set(record) == {"messages", "tools", "parallel_tool_calls"}
        assert record["messages"][0]["role"] == "system" and record["messages"][-1]["role"] == "assistant"
    assert any(r["parallel_tool_calls"] for r in records) and not all(r["parallel_tool_calls"] for r in records)
    provenance = lines(out / "openai_provenance.jsonl")
    assert len(provenance) == len(records)
    assert set(provenance[0]) >= {"file", "line", "source", "simulation_id", "task_id", "trial", "reward",
                                  "agent_model", "domain"}


def test_tau2_split_keeps_each_task_on_one_side(everything: tuple[dict[str, Any], Path]) -> None:
    manifest, out = everything
    sides: dict[tuple[str, str], set[str]] = {}
    for example in examples(out):
        key = (example["provenance"]["domain"], example["provenance"]["task_id"])
        sides.setdefault(key, set()).add(example["split"])
    assert all(len(s) == 1 for s in sides.values())
    # gpt-4.1 ran tau2's test tasks, qwen ran airline's 50 (train and test)
    assert manifest["by_domain"]["airline"] == {"train": 30, "test": 40}
    assert manifest["splits"]["train"]["tasks"] == 30


def test_random_split_is_by_task_and_seeded(tmp_path: Path) -> None:
    airline = [AIRLINE, RESULTS / "ollama_chat-qwen2.5-7b_airline_default_1trial.json"]
    manifest, out = make(tmp_path, *airline, split="random", test_fraction=0.25, seed=7)
    sides: dict[str, set[str]] = {}
    for example in examples(out):
        sides.setdefault(example["provenance"]["task_id"], set()).add(example["split"])
    assert all(len(s) == 1 for s in sides.values())
    assert manifest["splits"]["test"]["tasks"] == round(len(sides) * 0.25)
    _, out2 = make(tmp_path, *airline, split="random", test_fraction=0.25, seed=7, name="again")
    assert [e["split"] for e in examples(out2)] == [e["split"] for e in examples(out)]


def test_success_only_keeps_airline_gpt41_successes(tmp_path: Path) -> None:
    manifest, out = make(tmp_path, AIRLINE, min_reward=1.0)
    assert manifest["simulations"]["seen"] == 20 and manifest["simulations"]["kept"] == 10
    assert manifest["simulations"]["dropped"]["reward_below_threshold"] == 10 and accounted(manifest)
    kept = examples(out)
    assert all(e["provenance"]["reward"] == 1.0 and e["provenance"]["agent_model"] == "gpt-4.1" for e in kept)
    assert all(e["tools"] and e["messages"][0]["content"].startswith("<instructions>") for e in kept)


def test_filters_dedup_and_sampling_are_counted(tmp_path: Path) -> None:
    twin = tmp_path / "copy" / "twin.json"
    twin.parent.mkdir()
    twin.write_bytes(AIRLINE.read_bytes())
    manifest, _ = make(tmp_path, AIRLINE, twin.parent, name="dup")
    assert manifest["simulations"]["dropped"]["duplicate"] == 20 and manifest["simulations"]["kept"] == 20
    manifest, _ = make(tmp_path, RESULTS, agent_models=frozenset({"ollama_chat/qwen2.5:7b"}),
                       terminations=frozenset({"user_stop"}), name="qwen")
    dropped = manifest["simulations"]["dropped"]
    assert dropped["termination_reason"] == 10 and dropped["agent_model"] == 100 and accounted(manifest)
    manifest, out = make(tmp_path, RESULTS, domains=frozenset({"airline"}), max_per_task=1, sample=12, seed=3,
                         name="sampled")
    assert manifest["simulations"]["kept"] == 12 and accounted(manifest)
    assert manifest["simulations"]["dropped"]["sampled_out"] == 70 - 12
    assert len({e["provenance"]["task_id"] for e in examples(out)}) == 12


def test_bad_files_are_reported_and_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "good.json").write_bytes(AIRLINE.read_bytes())
    (folder / "malformed.json").write_text('{"timestamp": "x", "info": {"environment_info": {,,}}')
    (folder / "truncated.json").write_bytes(AIRLINE.read_bytes()[:400_000])
    (folder / "notes.json").write_text('{"hello": "world"}')
    manifest, out = make(tmp_path, folder)
    skipped = {Path(s["path"]).name: s["error"] for s in manifest["skipped_files"]}
    assert set(skipped) == {"malformed.json", "truncated.json", "notes.json"}
    assert "truncated" in skipped["truncated.json"] and "not a tau2 results file" in skipped["notes.json"]
    assert manifest["simulations"]["seen"] == 20 and len(examples(out)) == 20 and accounted(manifest)


def test_tau2_folder_layout(tmp_path: Path) -> None:
    data = json.loads(AIRLINE.read_text())
    run = tmp_path / "run"
    (run / "simulations").mkdir(parents=True)
    for simulation in data["simulations"]:
        (run / "simulations" / f"{simulation['id']}.json").write_text(json.dumps(simulation))
    (run / "results.json").write_text(json.dumps({**data, "simulations": []}))
    manifest, _ = make(tmp_path, tmp_path / "run", min_reward=1.0)
    assert manifest["sources"][0]["layout"] == "directory"
    assert manifest["simulations"]["seen"] == 20 and manifest["simulations"]["kept"] == 10


def test_telecom_user_tool_calls_are_dropped_and_counted(tmp_path: Path) -> None:
    manifest, out = make(tmp_path, TELECOM)
    user = manifest["user_tool_calls"]
    assert user["user_tool_calls_dropped"] == 482 and user["user_tool_results_dropped"] == 482
    assert user["simulations"] == 40
    catalog = json.loads((DOMAINS / "telecom.json").read_text())
    user_tools = {t["function"]["name"] for t in catalog["user_tools"]}
    for example in examples(out):
        called = {c["function"]["name"] for m in example["messages"] for c in m.get("tool_calls", [])}
        assert not called & user_tools
        assert all(m["role"] != "user" or m["content"] for m in example["messages"])


def solo_run(tmp_path: Path) -> Path:
    """A solo-mode run made from a real telecom one: no user, the agent also calls the user's tools, ends with done."""
    data = json.loads(TELECOM.read_text())
    simulation = next(s for s in data["simulations"] if s["reward_info"]["reward"] == 1.0)
    messages: list[dict[str, Any]] = []
    for message in simulation["messages"]:
        if message.get("tool_calls"):
            calls = [{**c, "requestor": "assistant"} for c in message["tool_calls"]]
            messages.append({**message, "role": "assistant", "content": None, "tool_calls": calls})
        elif message["role"] == "tool":
            messages.append({**message, "requestor": "assistant"})
    done = {"id": "call_done", "name": "done", "arguments": {}, "requestor": "assistant"}
    messages.append({"role": "assistant", "content": None, "tool_calls": [done], "turn_idx": len(messages)})
    solo = {**copy.deepcopy(simulation), "messages": messages, "termination_reason": "agent_stop"}
    data["info"]["agent_info"]["implementation"] = "llm_agent_solo"
    data["simulations"] = [solo]
    path = tmp_path / "solo.json"
    path.write_text(json.dumps(data))
    return path


def test_solo_mode_gets_the_ticket_and_the_solo_tools(tmp_path: Path) -> None:
    path = solo_run(tmp_path)
    manifest, out = make(tmp_path, path)
    assert manifest["simulations"]["kept"] == 1 and manifest["sources"][0]["agent_implementation"] == "llm_agent_solo"
    example = examples(out)[0]
    data = json.loads(path.read_text())
    ticket = next(t["ticket"] for t in data["tasks"] if t["id"] == example["provenance"]["task_id"])
    system = example["messages"][0]["content"]
    assert f"<ticket>\n{ticket}\n</ticket>" in system and "{ticket}" not in system
    assert {m["role"] for m in example["messages"][1:]} == {"assistant", "tool"}
    names = {t["function"]["name"] for t in example["tools"]}
    assert len(names) == 44 and {"done", "check_status_bar", "get_customer_by_phone"} <= names
    last = example["messages"][-1]
    assert last["tool_calls"][0]["function"]["name"] == "done"
    write_openai(out, overwrite=False)
    assert validate_record(lines(out / "test.jsonl")[0]) == []


def test_unknown_domain_uses_the_files_policy_and_infers_tools(tmp_path: Path) -> None:
    data = json.loads(AIRLINE.read_text())
    data["info"]["environment_info"]["domain_name"] = "skyways"
    path = tmp_path / "skyways.json"
    path.write_text(json.dumps(data))
    manifest, out = make(tmp_path, path, split="random")
    tools = manifest["tools"]["inferred:skyways"]
    assert tools["source"] == "inferred" and "get_reservation_details" in tools["names"]
    example = examples(out)[0]
    schema = next(t for t in example["tools"] if t["function"]["name"] == "get_reservation_details")
    assert schema["function"]["parameters"]["properties"] == {"reservation_id": {"type": "string"}}
    assert data["info"]["environment_info"]["policy"] in example["messages"][0]["content"]
    with pytest.raises(DatasetError, match=r"neither|no catalog has task splits"):
        make(tmp_path, path, name="tau2split")
    del data["info"]["environment_info"]["policy"]
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="unknown domain 'skyways'"):
        make(tmp_path, path, name="nopolicy", split="random")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return int(exit_info.value.code or 0), capsys.readouterr().err


def test_cli_needs_overwrite_and_leaves_nothing_half_written(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    base = ["dataset", "make", "--results", str(AIRLINE), "--name", "cli", "--out", str(out), "--success-only"]
    try:
        main(base)
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert (out / "manifest.json").is_file()
    code, err = run(base, capsys)
    assert code == 1 and "--overwrite" in err
    main(["dataset", "to-openai", "cli", "--out", str(out)])
    capsys.readouterr()
    code, err = run(["dataset", "to-openai", "cli", "--out", str(out)], capsys)
    assert code == 1 and err.startswith("Error:") and "--overwrite" in err
    data = json.loads(AIRLINE.read_text())
    data["simulations"][3]["reward_info"] = None
    broken = tmp_path / "noreward.json"
    broken.write_text(json.dumps(data))
    code, err = run(["dataset", "make", "--results", str(broken), "--name", "x", "--out", str(tmp_path / "x"),
                     "--success-only"], capsys)
    assert code == 1 and "no reward_info" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x*"))
    (tmp_path / "plain.json").write_text("[1, 2]")
    code, err = run(["dataset", "make", "--results", str(tmp_path / "plain.json"), "--name", "y", "--out",
                     str(tmp_path / "y")], capsys)
    assert code == 1 and "not a tau2 results file" in err
    code, err = run(["dataset", "make", "--results", str(AIRLINE), "--name", "z", "--split", "halves"], capsys)
    assert code == 2 and "halves" in err


def test_for_template_gives_argument_objects() -> None:
    record = {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "assistant", "content": "done"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "parallel_tool_calls": False}
    assert validate_record(record) == []
    messages, tools = for_template(record)
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == {"a": 1}
    assert record["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'
    assert tools == record["tools"] and for_template({"messages": []}) == ([], None)


def test_validator_names_what_is_wrong() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "", "tool_calls": []},
                        {"role": "assistant", "content": None, "tool_calls": [call]},
                        {"role": "tool", "tool_call_id": "nope", "content": "x"},
                        {"role": "user", "content": "bye"}],
           "parallel_tool_calls": True, "extra": 1}
    problems = " | ".join(validate_record(bad))
    for expected in ("unknown key 'extra'", "empty assistant message", "JSON string", "answers no open call",
                     "not answered", "last message", "parallel_tool_calls"):
        assert expected in problems


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shipped = ROOT / "models" / "tiny" / "hf"
    if (shipped / "tokenizer.json").is_file():
        return shipped
    from taustack.gguf.tiny import make_tiny_model

    out = tmp_path_factory.mktemp("tiny")
    template = (ROOT / "training" / "chat_templates" / "chatml-tools.jinja").read_text(encoding="utf-8")
    return make_tiny_model(out, template)["hf"]


def test_stats_recommends_a_max_length(tmp_path: Path, tiny_tokenizer: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    _, out = make(tmp_path, AIRLINE, min_reward=1.0, sample=4, seed=1)
    write_openai(out, overwrite=False)
    main_args = ["dataset", "stats", "ds", "--out", str(out), "--tokenizer", str(tiny_tokenizer)]
    try:
        main(main_args)
    except SystemExit as exc:
        assert exc.code in (0, None)
    printed = capsys.readouterr().out
    summary = json.loads((out / "token_stats.json").read_text())
    recommended = summary["recommended_max_length"]
    assert f"recommended max_length: {recommended}" in printed
    assert summary["examples"] == 4 and 0 < summary["assistant_tokens"] < summary["tokens"]
    assert summary["per_example"]["total"]["p50"] <= summary["per_example"]["total"]["p100"]
    rows = {r["max_length"]: r for r in summary["candidates"]}
    assert rows[512]["assistant_share_lost"] > 0.5 and rows[32768]["assistant_share_lost"] == 0
    assert recommended <= summary["per_example"]["total"]["p100"]
    lost_at = sum(1 for r in summary["candidates"] if r["max_length"] >= recommended
                  and r["assistant_share_lost"] > 0.01)
    assert lost_at == 0
    assert (out / "token_stats.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
