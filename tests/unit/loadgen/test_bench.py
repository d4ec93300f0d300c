"""`taustack bench` against a fake Ollama process (its OpenAI and Ollama APIs), and its inputs."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from taustack.errors import TaustackError
from taustack.loadgen.prompts import load_episodes
from tests.helpers import AIRLINE_RESULTS, ROOT, run_cli, start_server, stop_server

TAU2 = AIRLINE_RESULTS
FAKE_OLLAMA = ROOT / "tests" / "fakes" / "ollama" / "fake_ollama.py"


@pytest.fixture(scope="module")
def fake_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"OLLAMA_HOST": f"127.0.0.1:{port}", "OLLAMA_MODELS": str(tmp_path_factory.mktemp("models")),
           "FAKE_PRELOADED_MODELS": "qwen2.5:0.5b", "FAKE_TOKEN_DELAY_MS": "2", "FAKE_TOKENS": "5"}
    url = f"http://127.0.0.1:{port}"
    server = start_server([sys.executable, str(FAKE_OLLAMA)], f"{url}/api/version", timeout_s=10, env=env)
    yield url
    stop_server(server)


def bench(*args: str) -> tuple[int, list[dict[str, object]], str]:
    result = run_cli("bench", *args, "--json", timeout=120)
    rows = json.loads(result.stdout) if result.stdout.strip() else []
    return result.returncode, rows, result.stderr


def test_openai_streaming_by_count(fake_url: str) -> None:
    code, rows, _ = bench(fake_url, "--model", "qwen2.5:0.5b", "--requests", "30", "--concurrency", "3")
    assert code == 0
    assert rows[0]["requests"] == 30 and rows[0]["errors"] == 0
    assert rows[0]["output_tokens_per_s"] > 0 and rows[0]["ttft_ms"]["p50"] <= rows[0]["e2e_ms"]["p50"]


def test_ollama_api_without_streaming_by_duration(fake_url: str) -> None:
    started = time.monotonic()
    code, rows, _ = bench(fake_url, "--api", "ollama", "--model", "qwen2.5:0.5b", "--duration", "1.5",
                          "--no-stream", "--rate", "20")
    assert code == 0 and rows[0]["errors"] == 0 and rows[0]["requests"] >= 10
    assert time.monotonic() - started < 15


def test_tau2_episodes_replay_with_compare(fake_url: str) -> None:
    code, rows, _ = bench(fake_url, "--model", "qwen2.5:0.5b", "--prompts", f"tau2:{TAU2}", "--requests", "40",
                          "--compare", fake_url + "/")
    assert code == 0 and [row["requests"] for row in rows] == [40, 40]


def test_tau2_turns_are_the_agents_requests() -> None:
    episodes = load_episodes([f"tau2:{TAU2}"])
    assert len(episodes) == 20
    first = episodes[0]
    assert first.session and all(turn[0]["role"] == "system" for turn in first.turns)
    assert [len(turn) for turn in first.turns] == sorted(len(turn) for turn in first.turns)
    for turn in first.turns:
        calls = {c["id"] for m in turn if m["role"] == "assistant" for c in m.get("tool_calls", [])}
        assert all(m["tool_call_id"] in calls for m in turn if m["role"] == "tool")


def test_errors_are_counted_by_kind_and_fail_the_run(fake_url: str) -> None:
    code, rows, stderr = bench("http://127.0.0.1:9", "--model", "x", "--requests", "3", "--timeout", "2")
    assert code == 1 and rows[0]["errors_by_kind"] == {"connect": 3}
    assert stderr.strip().splitlines()[-1].startswith("Error: http://127.0.0.1:9: 3 of 3 requests failed")
    code, rows, _ = bench(fake_url, "--model", "no-such-model", "--requests", "3")
    assert code == 1 and rows[0]["errors_by_kind"] == {"http_4xx": 3}


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"not": "tau2"}')
    with pytest.raises(TaustackError, match="not a tau2 results file"):
        load_episodes([f"tau2:{tmp_path / 'x.json'}"])
    (tmp_path / "p.jsonl").write_text('{"prompt": "hi"}\n{"nothing": 1}\n')
    with pytest.raises(TaustackError, match="line 2"):
        load_episodes([str(tmp_path / "p.jsonl")])
    (tmp_path / "q.jsonl").write_text('{"prompt": "hi"}\n\n{not json\n')
    with pytest.raises(TaustackError, match=r"q\.jsonl line 3: not JSON"):
        load_episodes([str(tmp_path / "q.jsonl")])
    with pytest.raises(TaustackError, match="does not exist"):
        load_episodes([str(tmp_path / "missing.jsonl")])
    result = run_cli("bench", "http://127.0.0.1:9", "--model", "x")
    assert result.returncode == 1 and "give --requests or --duration" in result.stderr


def test_sessions_can_be_left_out_and_a_system_prompt_replaces_the_episodes_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--no-sessions sends no X-Session-ID; --system is every request's system message; turns are numbered."""
    import asyncio

    from taustack.loadgen import runner

    seen: list[tuple[str | None, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.headers.get("x-session-id"), body["messages"][0]["content"]))
        answer = {"choices": [{"message": {"content": "ok"}}], "usage": {"completion_tokens": 1}}
        return httpx.Response(200, json=answer)

    finished: list[str] = []
    monkeypatch.setattr(runner.SessionCloser, "finish", lambda self, session: finished.append(session) or True)
    real_client = httpx.AsyncClient
    monkeypatch.setattr(runner.httpx, "AsyncClient",
                        lambda **kwargs: real_client(transport=httpx.MockTransport(handler), **kwargs))
    system = tmp_path / "policy.md"
    system.write_text("the domain policy")
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"messages": [{"role": "system", "content": "old"}, {"role": "user", "content": "hi"}]}\n')
    episodes = load_episodes([str(jsonl)], system)
    episodes = [runner.Episode("ep", episodes[0].turns * 3)]
    for sessions in (True, False):
        seen.clear()
        finished.clear()
        plan = runner.LoadPlan(api="openai", url="http://x", model="m", episodes=episodes, stream=False,
                               concurrency=1, requests=3, sessions=sessions)
        samples = asyncio.run(runner.run_load(plan))
        assert [sample.turn for sample in samples] == [0, 1, 2]
        assert {content for _, content in seen} == {"the domain policy"}
        assert {session for session, _ in seen} == ({"ep-r0"} if sessions else {None})
        assert finished == (["ep-r0"] if sessions else [])  # the balancer is told the episode is over


def test_repeated_prompts_mix_the_sources_one_episode_of_each_in_turn() -> None:
    retail = TAU2.with_name("gpt-4.1_retail_default_1trial.json")
    episodes = load_episodes([f"tau2:{TAU2}", f"tau2:{retail}"])
    assert len(episodes) == 20 + 40
    policies = [episode.turns[0][0]["content"][:200] for episode in episodes]
    assert policies[0] != policies[1] and policies[0] == policies[2] and policies[1] == policies[3]
    assert len(set(policies[40:])) == 1 and policies[-1] == policies[1]


def test_episodes_are_placed_at_the_replica_of_most_of_their_turns() -> None:
    from taustack.loadgen.client import Sample
    from taustack.loadgen.report import summarize

    def turn(episode: str, replica: str, number: int) -> Sample:
        return Sample(0.0, 0.1, 0.2, 1, replica, turn=number, episode=episode)

    samples = [turn("a", "r0", 0), turn("a", "r0", 1), turn("a", "r1", 2),  # a moved once: home r0
               turn("b", "r1", 0), turn("b", "r1", 1), turn("c", "r1", 0), turn("c", "r1", 1),
               turn("lone", "r0", 0), Sample(0.0, 0.1, 0.2, 1, "r0")]  # one turn, and no episode: not placed
    summary = summarize("http://x", samples, 1.0)
    assert summary.episodes_per_replica == {"r0": 1, "r1": 2}
    assert summary.sticky_episodes == round(2 / 3, 3)
    assert summarize("http://x", samples[-2:], 1.0).sticky_episodes is None


def test_think_time_between_turns_is_jittered_around_the_mean_and_repeatable() -> None:
    from taustack.loadgen.runner import think_pause

    pauses = [think_pause(2.0, f"tau2-{n}-r0", turn) for n in range(50) for turn in range(1, 5)]
    assert all(1.0 <= pause <= 3.0 for pause in pauses) and 1.7 < sum(pauses) / len(pauses) < 2.3
    assert pauses == [think_pause(2.0, f"tau2-{n}-r0", turn) for n in range(50) for turn in range(1, 5)]
