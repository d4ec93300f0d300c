"""bench/agent_replay.py's machinery: the fault corpus's transformations (pure), the endpoint's request checks (pure
and over HTTP), and real tau2 26.3 replays of short airline episodes with the stock llm_agent: the unmodified replay
reproduces the recorded reward, and a replay fed a divergent request is reported as a failed replay."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bench.agent_replay import faults
from bench.agent_replay.endpoint import ReplayEndpoint, ReplayRun
from bench.agent_replay.episodes import Episode, Turn, load_episodes
from bench.agent_replay.faults import FaultItem, FaultPlan
from bench.agent_replay.matching import Divergence, match_agent, match_user

EPISODES = {episode.key: episode for episode in load_episodes()}
SHORT = ("gpt-4.1_airline/48/0", "gpt-4.1_airline/45/0")  # 12 and 16 messages, rewards 0.0 and 1.0
BOOKING = "gpt-4.1_airline/8/0"  # book_reservation: integer and nested number arguments
ITEMS = faults.load_corpus(faults.CORPUS) + faults.load_corpus(faults.HELDOUT)


# -- the fault corpus ------------------------------------------------------------------------------------------------


def recorded_messages() -> Iterator[dict[str, Any]]:
    from bench.agent_replay.endpoint import wire_message

    for key in (*SHORT, BOOKING, "gpt-4.1_airline/13/0"):
        for message in EPISODES[key].messages:
            if message["role"] == "assistant":
                yield wire_message(message)
    yield {"role": "assistant", "content": None, "tool_calls": [  # no recorded agent call takes a boolean or nothing
        {"id": "call_b", "type": "function", "function": {"name": "toggle_roaming",
                                                          "arguments": json.dumps({"enabled": True, "line": "L1"})}}]}
    yield {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_e", "type": "function", "function": {"name": "list_all_airports", "arguments": "{}"}}]}


def first_applicable(item: FaultItem) -> dict[str, Any]:
    for message in recorded_messages():
        if faults.applies(item, message):
            return message
    raise AssertionError(f"{item.id}: applies to no message")


def loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def leaked(marker: str) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    def check(faulted: dict[str, Any], original: dict[str, Any]) -> bool:
        name = original["tool_calls"][0]["function"]["name"]
        return not faulted["tool_calls"] and marker in (faulted["content"] or "") and name in faulted["content"]
    return check


def arguments(predicate: Callable[[str, dict[str, Any]], bool]) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    def check(faulted: dict[str, Any], original: dict[str, Any]) -> bool:
        text = faulted["tool_calls"][0]["function"]["arguments"]
        recorded = json.loads(original["tool_calls"][0]["function"]["arguments"])
        return loads_or_none(text) != recorded and predicate(text, recorded)
    return check


def renamed(pattern: str) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    def check(faulted: dict[str, Any], original: dict[str, Any]) -> bool:
        name, recorded = faulted["tool_calls"][0]["function"]["name"], original["tool_calls"][0]["function"]["name"]
        squashed = re.sub(r"[^a-z]", "", name.split(".")[-1].lower())
        return name != recorded and re.fullmatch(pattern, name) is not None and squashed == recorded.replace("_", "")
    return check


def stringified(kind: type) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    def check(faulted: dict[str, Any], original: dict[str, Any]) -> bool:
        before = original["tool_calls"][0]["function"]["arguments"]
        after = faulted["tool_calls"][0]["function"]["arguments"]
        strings = re.findall(r'"(True|False|\d+(?:\.\d+)?)"', after)
        return after != before and bool(strings) and all(isinstance(ast.literal_eval(s), kind) for s in strings)
    return check


def mixed(faulted: dict[str, Any], original: dict[str, Any]) -> bool:
    return bool((faulted["content"] or "").strip()) and faulted["tool_calls"] == original["tool_calls"]


def empty(faulted: dict[str, Any], original: dict[str, Any]) -> bool:
    return not (faulted["content"] or "").strip() and not faulted["tool_calls"]


SHAPES: dict[str, Callable[[dict[str, Any], dict[str, Any]], bool]] = {
    "args-trailing-tag": arguments(lambda text, rec: text.endswith("</tool_call>") and json.loads(text[:-12]) == rec),
    "args-trailing-text": arguments(lambda text, rec: json.loads(text.split("\n")[0]) == rec),
    "args-code-fence": arguments(lambda text, rec: text.startswith("```json\n") and json.loads(text[8:-4]) == rec),
    "args-single-quotes": arguments(lambda text, rec: '"' not in text and "'" in text),
    "args-python-literals": arguments(lambda text, rec: ast.literal_eval(text) == rec),
    "args-json-in-string": arguments(lambda text, rec: json.loads(json.loads(text)) == rec),
    "args-trailing-comma": arguments(lambda text, rec: text.endswith(", }") and json.loads(text[:-3] + "}") == rec),
    "args-empty-string": arguments(lambda text, rec: text == "" and rec == {}),
    "leak-hermes": leaked("<tool_call>\n{\"name\""),
    "leak-mistral-tool-calls": leaked("[TOOL_CALLS][{"),
    "leak-bare-json": leaked('{\n  "name": '),
    "leak-fenced-after-text": leaked("```json\n{\"name\""),
    "name-functions-prefix": renamed(r"functions\.[a-z_]+"),
    "name-kebab-title": renamed(r"[A-Z][a-z]*(-[A-Z][a-z]*)+"),
    "name-camel": renamed(r"[a-z]+([A-Z][a-z]*)+"),
    "name-upper": renamed(r"[A-Z_]+"),
    "types-int-as-string": stringified(int),
    "mixed-preamble": mixed,
    "mixed-announce-call": mixed,
    "empty-string": empty,
    "empty-null": empty,
    "ho-args-comments": arguments(lambda text, rec: "//" in text and "/*" in text),
    "ho-args-wrapped": arguments(lambda text, rec: json.loads(text) == {"arguments": rec}),
    "ho-args-double-escaped": arguments(lambda text, rec: "\\u0022" in text and json.loads(json.loads(text)) == rec),
    "ho-args-pretty-trailing-note": arguments(lambda text, rec: text.endswith("(confirmed with the user)")),
    "ho-leak-hermes-unclosed": leaked("<tool_call>\n{"),
    "ho-leak-python-tag": leaked("<|python_tag|>{\"name\""),
    "ho-leak-function-tag": leaked("<function="),
    "ho-name-tools-prefix": renamed(r"tools\.[a-z_]+"),
    "ho-name-default-api": renamed(r"default_api\.[a-z_]+"),
    "ho-name-pascal": renamed(r"([A-Z][a-z]*)+"),
    "ho-types-nested-number-string": stringified(int),
    "ho-types-bool-string": stringified(bool),
    "ho-mixed-think": mixed,
    "ho-mixed-summary": mixed,
    "ho-empty-whitespace": empty,
    "ho-empty-list": empty,
}


def test_every_item_has_a_shape_test_and_a_source() -> None:
    assert {item.id for item in ITEMS if item.kind != "transient"} == set(SHAPES)
    assert {item.kind for item in faults.load_corpus(faults.CORPUS)} == set(faults.KINDS)
    assert {item.kind for item in faults.load_corpus(faults.HELDOUT)} == set(faults.KINDS)
    corpus_text = faults.CORPUS.read_text()
    assert all(f"#{number}" in corpus_text for number in (19419, 16393, 26561))
    assert all(item.source.strip() for item in ITEMS)


@pytest.mark.parametrize("item", [item for item in ITEMS if item.kind != "transient"], ids=lambda item: item.id)
def test_each_item_gives_its_malformed_shape(item: FaultItem) -> None:
    original = first_applicable(item)
    snapshot = json.dumps(original)
    faulted = faults.apply(item, original)
    assert json.dumps(original) == snapshot, "the recorded message must not change"
    assert faulted.failure is None and faulted.message is not None
    assert SHAPES[item.id](faulted.message, original), json.dumps(faulted.message)[:400]


def test_call_kinds_never_apply_to_text_messages() -> None:
    text = {"role": "assistant", "content": "How can I help?", "tool_calls": None}
    assert {item.kind for item in ITEMS if faults.applies(item, text)} == {"empty", "transient"}


def test_the_draw_is_seeded_per_turn_and_attempt() -> None:
    message = first_applicable(ITEMS[0])
    plan = FaultPlan(rate=0.1, items=ITEMS, seed=7)
    draws = [plan.draw("episode", turn, attempt, message) for turn in range(400) for attempt in range(3)]
    assert draws == [plan.draw("episode", turn, attempt, message) for turn in range(400) for attempt in range(3)]
    assert 0.06 < sum(draw is not None for draw in draws) / len(draws) < 0.14
    assert draws != [FaultPlan(rate=0.1, items=ITEMS, seed=8).draw("episode", t, a, message)
                     for t in range(400) for a in range(3)]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[ReplayEndpoint]:
    server = ReplayEndpoint().start()
    yield server
    server.stop()


def replay_run(episode: Episode, plan: FaultPlan | None = None, limit: int | None = None) -> ReplayRun:
    policy = "POLICY TEXT"
    return ReplayRun(episode=episode, policy=policy, scenario="SCENARIO", agent_tools=[], user_tools=[], plan=plan,
                     context_limit=limit)


@pytest.mark.parametrize("item", [item for item in ITEMS if item.kind == "transient"], ids=lambda item: item.id)
def test_transient_items_fail_over_http(item: FaultItem, endpoint: ReplayEndpoint) -> None:
    run = replay_run(EPISODES[SHORT[0]], FaultPlan(rate=1.0, items=[item]))
    url = endpoint.register(run)
    body = agent_request(EPISODES[SHORT[0]], 2)
    try:
        response = httpx.post(f"{url}/chat/completions", json=body, timeout=5, trust_env=False)
        response.read()
        assert item.transform["op"] == "http_error" and response.status_code == item.transform["status"]
    except httpx.TransportError:
        assert item.transform["op"] in ("reset", "truncate")
    assert [fault.item for fault in run.faults] == [item.id] and run.failure is None


def test_recorded_leaks_are_found_in_the_qwen_run_only() -> None:
    """The qwen2.5-7b recording's agent wrote tool calls into its text (message 2 of task 18: a bare JSON object);
    gpt-4.1's recordings hold none."""
    from bench.agent_replay.episodes import recorded_leaks

    airline = {"get_user_details", "get_reservation_details", "book_reservation", "cancel_reservation",
               "search_onestop_flight", "update_reservation_passengers", "update_reservation_baggages",
               "get_flight_status"}
    leaks = recorded_leaks(EPISODES["ollama_chat-qwen2.5-7b_airline/18/0"], airline)
    assert [call.name for call in leaks[2]] == ["get_user_details"]
    assert not any(recorded_leaks(episode, airline) for key, episode in EPISODES.items() if "gpt-4.1_airline" in key)


# -- the request checks -----------------------------------------------------------------------------------------------


def wire(turn: Turn) -> dict[str, Any]:
    """A recorded turn as tau2 sends it (to_litellm_messages)."""
    if turn.role == "tool":
        return {"role": "tool", "content": turn.content, "tool_call_id": turn.tool_call_id}
    message: dict[str, Any] = {"role": turn.role, "content": turn.content}
    if turn.calls:
        message["tool_calls"] = [{"id": call.call_id, "type": "function",
                                  "function": {"name": call.name, "arguments": call.arguments}}
                                 for call in turn.calls]
    return message


def agent_request(episode: Episode, upto: int, note: str = "") -> dict[str, Any]:
    turns = episode.agent_view()[:upto]
    return {"model": "replay-agent", "messages": [{"role": "system", "content": "<policy>POLICY TEXT</policy>" + note},
                                                  *map(wire, turns)]}


def test_the_recorded_prefix_asks_for_the_next_assistant_message() -> None:
    view = EPISODES[BOOKING].agent_view()
    for upto in range(1, len(view)):
        if view[upto].role == "assistant":
            assert match_agent(agent_request(EPISODES[BOOKING], upto), view, "POLICY TEXT", []).turn == upto


def test_a_reprompt_is_answered_with_the_same_turn() -> None:
    view = EPISODES[BOOKING].agent_view()
    upto = next(i for i in range(1, len(view)) if view[i].calls)
    body = agent_request(EPISODES[BOOKING], upto)
    body["messages"] += [{"role": "assistant", "content": "book_reservation({'user_id': ...)"},
                         {"role": "user", "content": "Your last tool call could not be parsed: ..."}]
    matched = match_agent(body, view, "POLICY TEXT", [])
    assert (matched.turn, matched.reprompts) == (upto, 1)


def divergence(body: dict[str, Any], view: list[Turn]) -> str:
    with pytest.raises(Divergence) as caught:
        match_agent(body, view, "POLICY TEXT", [])
    return caught.value.category


def test_lost_policy_tool_result_turn_or_changed_call_are_divergences() -> None:
    episode = EPISODES[BOOKING]
    view = episode.agent_view()
    call_at = next(i for i in range(1, len(view)) if view[i].calls)
    upto = next(i for i in range(call_at + 2, len(view)) if view[i].role == "assistant")
    body = agent_request(episode, upto)
    lost = json.loads(json.dumps(body))
    lost["messages"][0]["content"] = "You are a helpful agent."
    assert divergence(lost, view) == "system policy lost"
    changed = json.loads(json.dumps(body))
    changed["messages"][call_at + 2]["content"] = "{}"
    assert divergence(changed, view) == "tool result differs"
    changed = json.loads(json.dumps(body))
    changed["messages"][call_at + 1]["tool_calls"][0]["function"]["arguments"] = '{"user_id": "someone_else"}'
    assert divergence(changed, view) == "dispatched message differs"
    missing = json.loads(json.dumps(body))
    del missing["messages"][call_at]
    assert divergence(missing, view) in ("turn missing or extra", "user text differs", "assistant text differs")
    unparsed = json.loads(json.dumps(body))
    unparsed["messages"][call_at + 1]["tool_calls"][0]["function"]["arguments"] = "{'user_id': 1}"
    assert divergence(unparsed, view) == "dispatched message differs"


def test_a_trim_with_its_note_is_accepted_and_a_split_call_is_not() -> None:
    episode = EPISODES[BOOKING]
    view = episode.agent_view()
    last = max(i for i in range(len(view)) if view[i].role == "assistant")
    call_at = next(i for i in range(3, last) if view[i].calls)
    block = (3, call_at + 1 + len(view[call_at].calls))  # up to and including the call's results
    body = agent_request(episode, last, f"\n\n[Note: {block[1] - block[0]} earlier messages of this conversation "
                                        "were dropped to fit the context window.]")
    body["messages"] = body["messages"][:1 + block[0]] + body["messages"][1 + block[1]:]
    matched = match_agent(body, view, "POLICY TEXT", [])
    assert (matched.turn, matched.dropped) == (last, block[1] - block[0])
    split = agent_request(episode, last, "\n\n[Note: 1 earlier message was dropped.]")
    del split["messages"][1 + call_at + 1]  # a tool result without its call
    assert divergence(split, view) == "invalid sequence"
    wrong_count = json.loads(json.dumps(body))
    wrong_count["messages"][0]["content"] = wrong_count["messages"][0]["content"].replace(
        f"{block[1] - block[0]} earlier", f"{block[1] - block[0] + 1} earlier")
    assert divergence(wrong_count, view) != ""


def test_the_user_side_is_checked_with_roles_flipped() -> None:
    from bench.agent_replay.episodes import flipped

    episode = EPISODES[SHORT[0]]
    view = [flipped(turn) for turn in episode.user_view()]
    body = {"model": "replay-user", "messages": [{"role": "system", "content": "guidelines <scenario>SCENARIO"},
                                                 *map(wire, view[:1])]}
    assert match_user(body, view, "SCENARIO", []) == 1
    body["messages"][1]["content"] = "Hi! How may I help?"
    with pytest.raises(Divergence, match="agent text differs"):
        match_user(body, view, "SCENARIO", [])


def test_over_the_context_limit_is_vllms_400(endpoint: ReplayEndpoint) -> None:
    run = replay_run(EPISODES[SHORT[0]], limit=50)
    response = httpx.post(f"{endpoint.register(run)}/chat/completions", json=agent_request(EPISODES[SHORT[0]], 2),
                          timeout=5, trust_env=False)
    error = response.json()
    assert response.status_code == 400 and error["type"] == "BadRequestError" and error["code"] == 400
    assert re.fullmatch(r"This model's maximum context length is 50 tokens\. However, you requested \d+ tokens "
                        r"\(\d+ in the messages, 0 in the completion\)\. Please reduce the length of the messages or "
                        r"completion\.", error["message"])


# -- real replays through tau2 26.3 -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tau2(request: pytest.FixtureRequest) -> Iterator[None]:
    """tau2 imported (no network for litellm's cost map) with taustack's patch of its completion (no mcp import)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import tau2.utils.llm_utils as llm_utils

        from taustack.eval.tau2_26_3 import use_keys_by_base_url

        monkeypatch.setattr(llm_utils, "completion", llm_utils.completion)  # restored after the module
        use_keys_by_base_url({})
        yield


def test_unmodified_replays_reproduce_the_recorded_reward(tau2: None) -> None:
    from bench.agent_replay.runner import Job, run_job

    for key in SHORT:
        result = run_job(Job(EPISODES[key], "llm_agent", "baseline"))
        assert result.reproduced, (key, result.reason, result.error, result.replay.get("failure"))
        assert result.reward == EPISODES[key].reward and result.termination == "user_stop"
        assert result.replay["agent_requests"] == EPISODES[key].agent_turns()
        assert result.sequence_problem is None and all(turn.matched for turn in result.turns)


def test_a_divergent_request_is_a_failed_replay(tau2: None) -> None:
    """The recording's tool result is changed: the environment's real result, in the agent's next request, differs
    from it, so the endpoint must fail the replay, whatever the reward."""
    from bench.agent_replay.runner import Job, run_job

    episode = EPISODES[SHORT[0]]
    messages = [dict(m) for m in episode.messages]
    tool = next(i for i, m in enumerate(messages) if m["role"] == "tool")
    messages[tool]["content"] = messages[tool]["content"].replace("3RK2T9", "XXXXXX")
    tampered = dataclasses.replace(episode, messages=tuple(messages))
    result = run_job(Job(tampered, "llm_agent", "baseline"))
    assert not result.reproduced
    assert result.replay["failure_category"] == "tool result differs", result.replay.get("failure")
    assert result.reason == "replay failed: tool result differs"
