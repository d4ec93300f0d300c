"""Context management (taustack.agents.context) on a long tau2 airline episode built here: the real airline system
prompt and tool schemas from the domain catalog, user and assistant turns, tool calls with their results, parallel
calls with two results. Trimming keeps the system prompt, the opening and the latest unit, never splits a call from
its results, says what it dropped, fits the budget; the budget and the overflow parsing (counting: test_tokens.py).
"""

from __future__ import annotations

import copy
from itertools import pairwise

import pytest

from taustack.agents.config import ContextConfig
from taustack.agents.context import (
    DEFAULT_RESERVE,
    context_budget,
    is_context_overflow,
    shrink_budget,
    trim_to_budget,
)
from tests.unit.agents.episodes import (
    ESTIMATE,
    NOTE,
    SYSTEM_PROMPT,
    TOOLS,
    USER_ID,
    airline_episode,
    assert_calls_and_results_paired,
    assistant,
    between,
    budgets,
    call,
    call_ids,
    calls,
    ending_with_results,
    reservation,
    result,
    total_tokens,
    user,
    user_record,
)


def test_the_episode_is_long_and_tau2_like() -> None:
    messages = airline_episode()
    assert len(SYSTEM_PROMPT) > 5000 and len(TOOLS) >= 10
    assert any(len(call_ids(message)) == 2 for message in messages)
    assert_calls_and_results_paired(messages)
    assert total_tokens(messages) > 20000


def test_a_conversation_that_fits_comes_back_unchanged() -> None:
    messages = airline_episode(rounds=2)
    trimmed = trim_to_budget(messages, TOOLS, total_tokens(messages), keep_opening=2, counter=ESTIMATE)
    assert trimmed.messages == messages
    assert (trimmed.dropped_messages, trimmed.dropped_tokens, trimmed.tokens) == (0, 0, total_tokens(messages))
    assert trimmed.messages[0] is not messages[0]


def test_trimming_fits_the_budget_and_keeps_system_opening_and_latest() -> None:
    messages = airline_episode()
    budget = between(messages, 0.3)
    trimmed = trim_to_budget(messages, TOOLS, budget, keep_opening=2, counter=ESTIMATE)
    assert trimmed.tokens <= budget
    assert trimmed.tokens == total_tokens(trimmed.messages)
    assert trimmed.messages[0]["role"] == "system"
    assert trimmed.messages[0]["content"].startswith(SYSTEM_PROMPT)
    assert trimmed.messages[1:3] == messages[1:3]
    assert trimmed.messages[-1] == messages[-1]
    assert trimmed.dropped_messages == len(messages) - len(trimmed.messages) > 0


def test_the_kept_messages_are_the_newest_in_order() -> None:
    messages = airline_episode()
    trimmed = trim_to_budget(messages, TOOLS, between(messages, 0.5), keep_opening=2, counter=ESTIMATE)
    kept_tail = trimmed.messages[3:]
    assert kept_tail == messages[len(messages) - len(kept_tail):]


def test_the_history_says_how_many_messages_were_dropped() -> None:
    messages = airline_episode()
    trimmed = trim_to_budget(messages, TOOLS, between(messages, 0.3), keep_opening=2, counter=ESTIMATE)
    system = trimmed.messages[0]["content"]
    assert system.endswith(f"\n\n[Note: {trimmed.dropped_messages} {NOTE}]")
    assert [m["role"] for m in trimmed.messages].count("system") == 1


@pytest.mark.parametrize("ending", ["user", "results"])
def test_no_budget_ever_splits_a_call_from_its_results(ending: str) -> None:
    messages = airline_episode() if ending == "user" else ending_with_results(airline_episode())
    for budget in budgets(messages, 0.9, 0.7, 0.5, 0.3, 0.1, 0.0, -1.0):
        trimmed = trim_to_budget(messages, TOOLS, budget, keep_opening=2, counter=ESTIMATE)
        assert_calls_and_results_paired(trimmed.messages)
        assert trimmed.messages[-1] == messages[-1]


def test_results_are_matched_to_their_call_by_id() -> None:
    """Two calls back to back, then both results: each result goes with its own call, whichever is dropped."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, assistant("Hi! How can I help you today?"),
                user(f"My user id is {USER_ID}."), calls(call("call_a", "get_user_details", user_id=USER_ID)),
                calls(call("call_b", "get_reservation_details", reservation_id="ZFA04Y")),
                result("call_a", user_record()), result("call_b", reservation("ZFA04Y", 12)),
                assistant("You have one reservation, ZFA04Y."), user("Cancel it, please.")]
    first_drop = trim_to_budget(messages, TOOLS, total_tokens(messages) - 1, keep_opening=2, counter=ESTIMATE)
    assert [m.get("tool_call_id") for m in first_drop.messages if m["role"] == "tool"] == ["call_b"]
    for budget in [total_tokens(messages) - 1, *budgets(messages, 0.8, 0.5, 0.2, 0.0)]:
        trimmed = trim_to_budget(messages, TOOLS, budget, keep_opening=2, counter=ESTIMATE)
        assert_calls_and_results_paired(trimmed.messages)


def test_the_latest_call_and_both_its_results_survive_the_smallest_budget() -> None:
    messages = ending_with_results(airline_episode())
    trimmed = trim_to_budget(messages, TOOLS, 0, keep_opening=2, counter=ESTIMATE)
    assert trimmed.messages[-3:] == messages[-3:]
    assert call_ids(trimmed.messages[-3]) == ["call_end_a", "call_end_b"]


def test_a_minimum_that_does_not_fit_is_returned_with_its_count() -> None:
    messages = airline_episode()
    trimmed = trim_to_budget(messages, TOOLS, 100, keep_opening=2, counter=ESTIMATE)
    assert [m["role"] for m in trimmed.messages] == ["system", "assistant", "user", "user"]
    assert trimmed.tokens == total_tokens(trimmed.messages) > 100
    assert trimmed.dropped_messages == len(messages) - 4


def test_an_opening_that_ends_in_a_call_keeps_its_result() -> None:
    messages = airline_episode()
    trimmed = trim_to_budget(messages, TOOLS, 0, keep_opening=3, counter=ESTIMATE)
    assert trimmed.messages[1:5] == messages[1:5]
    assert_calls_and_results_paired(trimmed.messages)


def test_keep_opening_zero_keeps_only_the_system_prompt_and_the_latest() -> None:
    messages = airline_episode()
    trimmed = trim_to_budget(messages, TOOLS, 0, keep_opening=0, counter=ESTIMATE)
    assert [m["role"] for m in trimmed.messages] == ["system", "user"]


def test_two_user_messages_never_meet_across_the_gap() -> None:
    messages = airline_episode()
    roles = [m["role"] for m in messages]
    for budget in budgets(messages, 0.95, 0.8, 0.65, 0.5, 0.35, 0.2, 0.05):
        trimmed = trim_to_budget(messages, TOOLS, budget, keep_opening=2, counter=ESTIMATE)
        kept = [m["role"] for m in trimmed.messages]
        assert ("user", "user") not in pairwise(kept), (budget, kept)
    assert ("user", "user") not in pairwise(roles)


def test_a_cut_landing_on_a_user_message_drops_it_too() -> None:
    """Dropping the user lookup alone would leave the opening's request followed by the next user message."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, assistant("Hi! How can I help you today?"),
                user(f"My user id is {USER_ID}."), assistant("Thanks, one moment. " * 200), user("Any news?"),
                assistant("Yes: your flight is confirmed."), user("Great, thanks!")]
    without_long_reply = [*messages[:3], *messages[4:]]
    budget = total_tokens(without_long_reply) + 40
    trimmed = trim_to_budget(messages, TOOLS, budget, keep_opening=2, counter=ESTIMATE)
    assert [m["content"] for m in trimmed.messages[1:]] == [messages[1]["content"], messages[2]["content"],
                                                            messages[5]["content"], messages[6]["content"]]
    assert trimmed.dropped_messages == 2


def test_the_input_is_never_mutated() -> None:
    messages = airline_episode()
    before = copy.deepcopy(messages)
    trimmed = trim_to_budget(messages, TOOLS, between(messages, 0.2), keep_opening=2, counter=ESTIMATE)
    assert messages == before
    kept_call = next(message for message in trimmed.messages if message.get("tool_calls"))
    kept_call["tool_calls"][0]["function"]["arguments"] = "{}"
    trimmed.messages[-1]["content"] = "changed"
    assert messages == before


def test_dropped_tokens_is_what_the_dropped_messages_held() -> None:
    messages = airline_episode()
    trimmed = trim_to_budget(messages, TOOLS, between(messages, 0.3), keep_opening=2, counter=ESTIMATE)
    without_note = [{**trimmed.messages[0], "content": SYSTEM_PROMPT}, *trimmed.messages[1:]]
    assert trimmed.dropped_tokens == total_tokens(messages) - total_tokens(without_note) > 0


def test_trimming_twice_leaves_one_note_with_both_counts() -> None:
    messages = airline_episode()
    once = trim_to_budget(messages, TOOLS, between(messages, 0.5), keep_opening=2, counter=ESTIMATE)
    twice = trim_to_budget(once.messages, TOOLS, between(messages, 0.2), keep_opening=2, counter=ESTIMATE)
    count = once.dropped_messages + twice.dropped_messages
    assert twice.messages[0]["content"].count("[Note:") == 1
    assert twice.messages[0]["content"].endswith(f"[Note: {count} {NOTE}]")
    assert count == len(messages) - len(twice.messages)


def test_a_history_without_system_prompt_gets_the_note_first() -> None:
    messages = airline_episode()[1:]
    trimmed = trim_to_budget(messages, TOOLS, between(messages, 0.3), keep_opening=2, counter=ESTIMATE)
    assert trimmed.messages[0] == {"role": "system",
                                   "content": f"[Note: {trimmed.dropped_messages} {NOTE}]"}
    assert trimmed.messages[1:3] == messages[0:2]


def test_content_parts_are_counted_and_noted() -> None:
    messages = airline_episode()
    messages[0] = {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]}
    trimmed = trim_to_budget(messages, TOOLS, between(messages, 0.3), keep_opening=2, counter=ESTIMATE)
    parts = trimmed.messages[0]["content"]
    assert parts[0] == {"type": "text", "text": SYSTEM_PROMPT} and NOTE in parts[-1]["text"]
    assert ESTIMATE.count(messages[:1], []) > ESTIMATE.text_tokens(SYSTEM_PROMPT)


# -- budget -----------------------------------------------------------------------------------------------------


def test_the_budget_is_the_configured_one_first() -> None:
    config = ContextConfig(max_context_tokens=6000, served_context_tokens=32768)
    assert context_budget(config, max_tokens=2048) == 6000


def test_the_budget_is_the_served_context_minus_the_completion() -> None:
    config = ContextConfig(served_context_tokens=16384)
    assert context_budget(config, max_tokens=2048) == 16384 - 2048
    assert context_budget(config, max_tokens=None) == 16384 - DEFAULT_RESERVE == 15360


def test_no_budget_when_nothing_is_known_or_context_is_off() -> None:
    assert context_budget(ContextConfig(), max_tokens=1024) is None
    assert context_budget(ContextConfig(enabled=False, max_context_tokens=4096), max_tokens=None) is None


def test_a_completion_larger_than_the_context_leaves_no_budget() -> None:
    assert context_budget(ContextConfig(served_context_tokens=4096), max_tokens=8000) == 0


# -- overflow answers -------------------------------------------------------------------------------------------

VLLM_OLD = ("Error code: 400 - {'object': 'error', 'message': \"This model's maximum context length is 4096 tokens. "
            "However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the "
            "length of the messages or completion.\", 'type': 'BadRequestError', 'param': None, 'code': 400}")
VLLM_NEW = ("Error code: 400 - {'error': {'message': \"'max_tokens' or 'max_completion_tokens' is too large: 1000. "
            "This model's maximum context length is 4096 tokens and your request has 3500 input tokens "
            "(1000 > 4096 - 3500). None\", 'type': 'BadRequestError', 'param': None, 'code': 400}}")
VLLM_INPUT = ("This model's maximum context length is 4096 tokens. However, your request has 5000 input tokens. "
              "Please reduce the length of the input messages.")
LLAMA_CPP = ('{"error":{"code":400,"message":"request (4476 tokens) exceeds the available context size (4096 tokens), '
             'try increasing it","type":"exceed_context_size_error","n_prompt_tokens":4476,"n_ctx":4096}}')
LLAMA_CPP_OLD = "the request exceeds the available context size, try increasing it"
OPENAI = ("Error code: 400 - {'error': {'message': \"This model's maximum context length is 8192 tokens. However, "
          "your messages resulted in 9000 tokens (8500 in the messages, 500 in the functions). Please reduce the "
          "length of the messages or functions.\", 'type': 'invalid_request_error', 'param': 'messages', "
          "'code': 'context_length_exceeded'}}")
LITELLM = ("litellm.ContextWindowExceededError: litellm.BadRequestError: ContextWindowExceededError: OpenAIException"
           " - This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the "
           "messages, 1000 in the completion).")


@pytest.mark.parametrize(("reported", "budget", "expected"), [
    (VLLM_OLD, 4000, 2786),  # 4000 * (4096 - 1000) / 4000 * 0.9
    (LITELLM, 4000, 2786),
    (VLLM_NEW, 3072, 2445),  # 3072 * (4096 - 1000) / 3500 * 0.9
    (VLLM_INPUT, 3072, 2264),  # 3072 * 4096 / 5000 * 0.9
    (LLAMA_CPP, 3072, 2530),  # 3072 * 4096 / 4476 * 0.9
    (OPENAI, 8000, 6553),  # 8000 * 8192 / 9000 * 0.9: "resulted in" counts messages and functions
    (LLAMA_CPP_OLD, 3072, 2457),  # no numbers: 0.8 * budget
    (None, 1000, 800),
])
def test_shrink_budget_reads_the_engines_numbers(reported: str | None, budget: int, expected: int) -> None:
    assert shrink_budget(budget, reported) == expected


def test_shrink_budget_with_only_the_context_stays_under_it() -> None:
    assert shrink_budget(10000, "This model's maximum context length is 4096 tokens.") == 3686


def test_shrink_budget_is_always_smaller_and_never_negative() -> None:
    roomy = "This model's maximum context length is 8192 tokens. However, your request has 100 input tokens."
    assert shrink_budget(500, roomy) == 499
    assert shrink_budget(0, None) == 0
    too_large = ("'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum context length is "
                 "4096 tokens and your request has 2778 input tokens (8000 > 4096 - 2778).")
    assert shrink_budget(3072, too_large) == 0


@pytest.mark.parametrize("text", [VLLM_OLD, VLLM_NEW, VLLM_INPUT, LLAMA_CPP, LLAMA_CPP_OLD, OPENAI, LITELLM,
                                  "The decoder prompt (length 5000) is longer than the maximum model length of 4096."])
def test_overflow_answers_are_recognised(text: str) -> None:
    assert is_context_overflow(400, text)
    assert is_context_overflow(None, text)


def test_llama_cpp_answering_500_for_an_overflow_is_recognised() -> None:
    assert is_context_overflow(500, LLAMA_CPP_OLD)


@pytest.mark.parametrize(("status", "text"), [
    (401, "Error code: 401 - {'error': {'message': 'Incorrect API key provided', 'code': 'invalid_api_key'}}"),
    (429, "Rate limit reached for requests"),
    (500, "Error in extracting tool call from response."),
    (200, "This model's maximum context length is 4096 tokens."),
])
def test_other_answers_are_not_overflows(status: int, text: str) -> None:
    assert not is_context_overflow(status, text)
