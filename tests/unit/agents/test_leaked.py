"""Tool calls leaked into the content (taustack.agents.leaked through repair_message): hermes `<tool_call>`, Mistral
`[TOOL_CALLS]`, a bare or fenced JSON object; only calls to known tools count, the text beside them is kept."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.unit.agents.repair_fixtures import (
    RepairOutcome,
    ToolCallOut,
    one_call,
    repair,
)

# -- leaked_calls ------------------------------------------------------------------------------------------------


def test_hermes_call_in_content_extracted_and_text_kept() -> None:
    content = ('I will look up your profile.\n<tool_call>\n{"name": "get_user_details", "arguments": '
               '{"user_id": "mia_li_3668"}}\n</tool_call>')
    outcome = repair(content, [])
    assert outcome == RepairOutcome(content="I will look up your profile.", calls=[
        ToolCallOut("call_leaked_1", "get_user_details", {"user_id": "mia_li_3668"})],
        repairs=Counter({"leaked_hermes": 1}))


def test_several_hermes_calls_with_string_arguments_and_no_text() -> None:
    content = ('<tool_call>\n{"name": "get_reservation_details", "arguments": "{\\"reservation_id\\": \\"EHGLP3\\"}"}'
               '\n</tool_call>\n<tool_call>\n{"name": "get_reservation_details", "arguments": '
               '{"reservation_id": "K1NW8N"}}\n</tool_call>')
    outcome = repair(content, [])
    assert outcome.content is None and outcome.problem is None
    assert [(c.id, c.arguments["reservation_id"]) for c in outcome.calls] == [("call_leaked_1", "EHGLP3"),
                                                                               ("call_leaked_2", "K1NW8N")]
    assert outcome.repairs == Counter({"leaked_hermes": 2})


def test_hermes_call_with_trailing_brace_and_no_closing_tag() -> None:
    content = '<tool_call>\n{"name": "get_user_details", "arguments": {"user_id": "mia_li_3668"}}}'
    outcome = repair(content, [])
    assert one_call(outcome) == ToolCallOut("call_leaked_1", "get_user_details", {"user_id": "mia_li_3668"})
    assert outcome.repairs == Counter({"leaked_hermes": 1, "json_arguments": 1})


def test_mistral_array_of_calls_extracted() -> None:
    content = ('[TOOL_CALLS][{"name": "get_user_details", "arguments": {"user_id": "mia_li_3668"}}, '
               '{"name": "calculate", "arguments": {"expression": "2 * 125"}}]')
    outcome = repair(content, [])
    assert [(c.name, c.arguments) for c in outcome.calls] == [("get_user_details", {"user_id": "mia_li_3668"}),
                                                              ("calculate", {"expression": "2 * 125"})]
    assert outcome.content is None and outcome.repairs == Counter({"leaked_mistral": 2})


@pytest.mark.parametrize("content", [
    '[TOOL_CALLS]cancel_reservation{"reservation_id": "EHGLP3"}',
    '[TOOL_CALLS]cancel_reservation[ARGS]{"reservation_id": "EHGLP3"}',
])
def test_mistral_named_call_extracted(content: str) -> None:
    outcome = repair(content, [])
    assert one_call(outcome) == ToolCallOut("call_leaked_1", "cancel_reservation", {"reservation_id": "EHGLP3"})
    assert outcome.content is None and outcome.repairs == Counter({"leaked_mistral": 1})


def test_fenced_bare_json_call_with_parameters_key_extracted() -> None:
    content = ('Sure, checking now.\n```json\n{"name": "get_reservation_details", "parameters": '
               '{"reservation_id": "EHGLP3"}}\n```')
    outcome = repair(content, [])
    assert one_call(outcome) == ToolCallOut("call_leaked_1", "get_reservation_details", {"reservation_id": "EHGLP3"})
    assert outcome.content == "Sure, checking now." and outcome.repairs == Counter({"leaked_json": 1})


def test_leaked_call_with_prefixed_name_is_mapped_and_counted_twice() -> None:
    content = '{"name": "functions.get_user_details", "arguments": {"user_id": "mia_li_3668"}}'
    outcome = repair(content, [])
    assert one_call(outcome).name == "get_user_details"
    assert outcome.repairs == Counter({"leaked_json": 1, "tool_name": 1})


@pytest.mark.parametrize("content", [
    '<tool_call>{"name": "cancel_reservations", "arguments": {"reservation_id": "EHGLP3"}}</tool_call>',
    '[TOOL_CALLS][{"name": "refund_everything", "arguments": {}}]',
    'Your reservation: {"name": "Mia Li", "reservation_id": "EHGLP3", "status": "cancelled"}',
    '{"name": "get_user_details", "user_id": "mia_li_3668"}',
])
def test_text_that_is_not_a_call_to_a_known_tool_stays_text(content: str) -> None:
    assert repair(content, []) == RepairOutcome(content=content, calls=[], repairs=Counter())


def test_leaked_calls_off_leaves_the_content() -> None:
    content = '<tool_call>{"name": "get_user_details", "arguments": {"user_id": "mia_li_3668"}}</tool_call>'
    assert repair(content, [], leaked_calls=False) == RepairOutcome(content=content, calls=[], repairs=Counter())


def test_leaked_call_is_validated_like_a_native_one() -> None:
    outcome = repair('<tool_call>{"name": "cancel_reservation", "arguments": {}}</tool_call>', [])
    assert outcome.problem == "tool 'cancel_reservation': missing required argument 'reservation_id'"

