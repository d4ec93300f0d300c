"""tau2's message protocol (taustack.agents.protocol): text or tool calls, never both, never empty.

Each `mixed` policy, the empty message, a message with a problem already, the switch off, and the rule that the
input outcome is never mutated.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from taustack.agents.config import ProtocolConfig, RepairConfig
from taustack.agents.protocol import apply_protocol
from taustack.agents.repair import RepairOutcome, ToolCallOut, repair_message

LOOKUP = ToolCallOut("call_1", "get_reservation_details", {"reservation_id": "EHGLP3"})
CANCEL = ToolCallOut("call_2", "cancel_reservation", {"reservation_id": "EHGLP3"})
GET_USER_DETAILS: dict[str, Any] = {
    "type": "function",
    "function": {"name": "get_user_details", "description": "Get the details of a user.",
                 "parameters": {"properties": {"user_id": {"description": "The user ID, such as 'sara_doe_496'.",
                                                           "title": "User Id", "type": "string"}},
                                "required": ["user_id"], "title": "parameters", "type": "object"}},
}


def outcome(content: str | None, calls: list[ToolCallOut], problem: str | None = None,
            **repairs: int) -> RepairOutcome:
    return RepairOutcome(content=content, calls=list(calls), repairs=Counter(repairs), problem=problem)


def protocol(message: RepairOutcome, **settings: Any) -> RepairOutcome:
    return apply_protocol(message, ProtocolConfig(**settings))


def test_text_only_message_unchanged() -> None:
    message = outcome("Your reservation EHGLP3 is cancelled.", [])
    assert protocol(message) == message


def test_calls_only_message_unchanged() -> None:
    message = outcome(None, [LOOKUP, CANCEL], json_arguments=1)
    assert protocol(message) == message


@pytest.mark.parametrize("blank", ["", "  \n"])
def test_blank_text_beside_calls_is_not_mixed(blank: str) -> None:
    message = outcome(blank, [LOOKUP])
    assert protocol(message) == message


def test_mixed_keeps_the_calls_by_default() -> None:
    result = protocol(outcome("Let me look that up for you.", [LOOKUP], tool_name=1))
    assert result == outcome(None, [LOOKUP], tool_name=1, protocol_mixed_dropped_text=1)


def test_mixed_text_policy_keeps_the_text() -> None:
    result = protocol(outcome("Let me look that up for you.", [LOOKUP]), mixed="text")
    assert result == outcome("Let me look that up for you.", [], protocol_mixed_dropped_calls=1)


def test_mixed_reprompt_policy_says_what_was_wrong() -> None:
    result = protocol(outcome("Cancelling now.", [LOOKUP, CANCEL]), mixed="reprompt")
    assert result.problem == ("mixed message: it holds text and 2 tool calls (get_reservation_details, "
                              "cancel_reservation); a message is either text for the user or tool calls, never both")
    assert result.calls == [LOOKUP, CANCEL] and result.repairs == Counter()


@pytest.mark.parametrize("content", [None, "", " \n\t"])
def test_empty_message_is_a_problem(content: str | None) -> None:
    result = protocol(outcome(content, []))
    assert result.problem is not None and result.problem.startswith("empty message: ")


def test_message_with_a_problem_comes_back_unchanged() -> None:
    message = outcome("Cancelling now.", [LOOKUP], problem="unknown tool 'cancel_reservations'; the tools are: x")
    assert protocol(message, mixed="reprompt") == message


def test_protocol_off_leaves_mixed_and_empty_messages() -> None:
    mixed, empty = outcome("Cancelling now.", [CANCEL]), outcome(None, [])
    assert protocol(mixed, enabled=False) == mixed
    assert protocol(empty, enabled=False) == empty


def test_input_outcome_is_not_mutated() -> None:
    message = outcome("Let me check.", [LOOKUP], leaked_hermes=1)
    result = protocol(message)
    assert message == outcome("Let me check.", [LOOKUP], leaked_hermes=1)
    assert result is not message and result.calls is not message.calls and result.repairs is not message.repairs


def test_leaked_call_with_preamble_becomes_a_call_only_message() -> None:
    content = ('I will look up your profile.\n<tool_call>\n{"name": "get_user_details", "arguments": '
               '{"user_id": "mia_li_3668"}}\n</tool_call>')
    repaired = repair_message(content, [], [GET_USER_DETAILS], RepairConfig())
    result = apply_protocol(repaired, ProtocolConfig())
    assert result == outcome(None, [ToolCallOut("call_leaked_1", "get_user_details", {"user_id": "mia_li_3668"})],
                             leaked_hermes=1, protocol_mixed_dropped_text=1)
