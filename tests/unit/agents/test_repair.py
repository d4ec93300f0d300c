"""Tool-call repair and validation (taustack.agents.repair) on the malformed output small open models really emit:
valid input unchanged with nothing counted, arguments that are almost JSON, tau2's stock behaviour when disabled,
tool names, several calls, the re-prompt text. Schema checks: test_repair_schema.py; leaked calls: test_leaked.py.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from taustack.agents.repair import reprompt_text
from tests.unit.agents.repair_fixtures import (
    VALID_BOOKING,
    RepairConfig,
    RepairOutcome,
    ToolCallOut,
    call,
    one_call,
    repair,
    repair_message,
    string,
    tool,
)

# -- valid input: nothing changes, nothing counted ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "arguments"), [
    ("get_reservation_details", {"reservation_id": "EHGLP3"}),
    ("book_reservation", VALID_BOOKING),
    ("get_product_details", {"product_id": "6086499569", "variant": None}),
    ("refuel_data", {"customer_id": "C1001", "line_id": "L1002", "gb_amount": 2}),
    ("set_apn_settings", {"apn_settings": {"apn_name": "internet", "reset_at_reboot": True, "mms_port": None}}),
    ("calculate", {"expression": "(1 + 2) * 3"}),
])
def test_valid_call_comes_back_unchanged_with_no_repairs(name: str, arguments: dict[str, Any]) -> None:
    outcome = repair(None, [call(name, arguments, "call_abc")])
    assert outcome == RepairOutcome(content=None, calls=[ToolCallOut("call_abc", name, arguments)],
                                    repairs=Counter(), problem=None)


def test_empty_arguments_string_is_an_empty_object() -> None:
    outcome = repair(None, [call("list_all_airports", "")])
    assert one_call(outcome).arguments == {} and outcome.repairs == Counter()


def test_plain_text_message_is_left_alone() -> None:
    text = "Could you give me your reservation id? It looks like {'code': 'ABC123'}."
    assert repair(text, []) == RepairOutcome(content=text, calls=[], repairs=Counter())


def test_content_beside_native_calls_is_not_scanned_for_leaked_calls() -> None:
    text = 'Let me check. <tool_call>{"name": "cancel_reservation", "arguments": {"reservation_id": "X"}}</tool_call>'
    outcome = repair(text, [call("get_reservation_details", {"reservation_id": "EHGLP3"})])
    assert outcome.content == text and [c.name for c in outcome.calls] == ["get_reservation_details"]
    assert outcome.repairs == Counter()


# -- json_arguments ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arguments", [
    "{'reservation_id': 'EHGLP3'}",  # single quotes
    '{"reservation_id": "EHGLP3"}}',  # hermes-parser failure: a trailing brace
    '```json\n{"reservation_id": "EHGLP3"}\n```',  # code fence
    '```\n{"reservation_id": "EHGLP3"}',  # an unclosed fence
    '{"reservation_id": "EHGLP3"} </tool_call>',  # trailing text
    'Arguments: {"reservation_id": "EHGLP3"}',  # leading text
    '{"reservation_id": "EHGLP3",}',  # a trailing comma
    '"{\\"reservation_id\\": \\"EHGLP3\\"}"',  # a JSON object encoded as a JSON string
    "{'reservation_id': \"EHGLP3\", }",  # mixed quotes and a trailing comma
])
def test_json_arguments_repaired(arguments: str) -> None:
    outcome = repair(None, [call("get_reservation_details", arguments)])
    assert one_call(outcome).arguments == {"reservation_id": "EHGLP3"}
    assert outcome.repairs == Counter({"json_arguments": 1})


def test_python_literals_repaired() -> None:
    arguments = "{'apn_settings': {'apn_name': 'internet', 'reset_at_reboot': True, 'mms_port': None}}"
    outcome = repair(None, [call("set_apn_settings", arguments)])
    assert one_call(outcome).arguments == {"apn_settings": {"apn_name": "internet", "reset_at_reboot": True,
                                                            "mms_port": None}}
    assert outcome.repairs == Counter({"json_arguments": 1})


def test_raw_line_break_inside_a_string_repaired() -> None:
    outcome = repair(None, [call("transfer_to_human_agents", '{"summary": "Wants a refund.\nCard expired."}')])
    assert one_call(outcome).arguments == {"summary": "Wants a refund.\nCard expired."}


def test_apostrophe_in_a_double_quoted_string_survives_python_repair() -> None:
    outcome = repair(None, [call("transfer_to_human_agents", "{\"summary\": \"user's card\", 'x': True}")])
    assert one_call(outcome).arguments == {"summary": "user's card", "x": True}


def test_two_objects_in_arguments_are_a_problem_not_a_guess() -> None:
    outcome = repair(None, [call("cancel_reservation", '{"reservation_id": "EHGLP3"}{"reservation_id": "K1NW8N"}')])
    assert outcome.calls == []
    assert outcome.problem is not None and outcome.problem.startswith("tool 'cancel_reservation': arguments hold "
                                                                      "more than one JSON object")


def test_truncated_arguments_are_a_problem_naming_tool_and_json_error() -> None:
    outcome = repair(None, [call("get_user_details", '{"user_id": "mia_li_3668"')])
    assert outcome.calls == [] and outcome.problem is not None
    assert outcome.problem.startswith("tool 'get_user_details': arguments are not valid JSON (Expecting")
    assert "\n" not in outcome.problem


@pytest.mark.parametrize(("arguments", "described"), [
    ('[{"reservation_id": "EHGLP3"}]', "an array"),
    ('"EHGLP3"', "a string"),
    ("42", "an integer"),
    ("null", "null"),
])
def test_arguments_that_are_not_an_object_are_a_problem(arguments: str, described: str) -> None:
    outcome = repair(None, [call("get_reservation_details", arguments)])
    assert outcome.problem is not None
    assert outcome.problem.startswith(f"tool 'get_reservation_details': arguments must be a JSON object, got "
                                      f"{described}")


def test_json_arguments_off_reports_instead_of_repairing() -> None:
    outcome = repair(None, [call("get_reservation_details", "{'reservation_id': 'EHGLP3'}")], json_arguments=False)
    assert outcome.calls == [] and outcome.repairs == Counter()
    assert outcome.problem is not None and "arguments are not valid JSON" in outcome.problem


def test_json_arguments_off_leaves_a_string_encoded_object_a_problem() -> None:
    outcome = repair(None, [call("get_reservation_details", '"{\\"reservation_id\\": \\"EHGLP3\\"}"')],
                     json_arguments=False)
    assert outcome.problem is not None and "must be a JSON object, got a string" in outcome.problem


# -- enabled: False is tau2's stock agent ------------------------------------------------------------------------


def test_disabled_raises_json_decode_error_like_tau2() -> None:
    with pytest.raises(json.JSONDecodeError):
        repair(None, [call("get_reservation_details", "{'reservation_id': 'EHGLP3'}")], enabled=False)


def test_disabled_checks_no_names_and_no_schema() -> None:
    calls = [call("functions.get_reservation_details", {"reservation_id": 12345}, "a"),
             call("update_reservation_baggages", {"total_baggages": "2"}, "b"), call("list_all_airports", "", "c")]
    outcome = repair("some text", calls, enabled=False)
    assert outcome == RepairOutcome(content="some text", calls=[
        ToolCallOut("a", "functions.get_reservation_details", {"reservation_id": 12345}),
        ToolCallOut("b", "update_reservation_baggages", {"total_baggages": "2"}),
        ToolCallOut("c", "list_all_airports", {})], repairs=Counter(), problem=None)


def test_disabled_extracts_no_leaked_calls() -> None:
    text = '<tool_call>{"name": "get_user_details", "arguments": {"user_id": "mia_li_3668"}}</tool_call>'
    assert repair(text, [], enabled=False) == RepairOutcome(content=text, calls=[], repairs=Counter())


# -- tool_names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("written", [
    "functions.get_reservation_details", "function.get_reservation_details", "tools.get_reservation_details",
    "default_api.get_reservation_details", "mcp__airline__get_reservation_details", "Get_Reservation_Details",
    "get-reservation-details", "get reservation details", "GetReservationDetails", " get_reservation_details ",
])
def test_tool_name_differing_in_case_separators_or_prefix_is_mapped(written: str) -> None:
    outcome = repair(None, [call(written, {"reservation_id": "EHGLP3"})])
    assert one_call(outcome).name == "get_reservation_details"
    assert outcome.repairs == Counter({"tool_name": 1})


@pytest.mark.parametrize("written", ["cancel_reservations", "get_reservation", "cancel", "book_flight"])
def test_near_miss_tool_name_is_a_problem_listing_the_tools(written: str) -> None:
    outcome = repair(None, [call(written, {"reservation_id": "EHGLP3"})])
    assert outcome.calls == []
    assert outcome.problem is not None
    assert outcome.problem.startswith(f"unknown tool '{written}'; the tools are: get_user_details, "
                                      "get_reservation_details, cancel_reservation, book_reservation,")


def test_tool_name_matching_two_tools_is_ambiguous() -> None:
    tools = [tool("get_user_details", {"user_id": string("User Id")}, ["user_id"]),
             tool("getUserDetails", {"user_id": string("User Id")}, ["user_id"])]
    outcome = repair_message(None, [call("functions.get-user-details", {"user_id": "x"})], tools, RepairConfig())
    assert outcome.problem == ("tool name 'functions.get-user-details' is ambiguous: it could be get_user_details "
                               "or getUserDetails")


def test_tool_names_off_passes_unknown_names_through_unchecked() -> None:
    outcome = repair(None, [call("functions.get_reservation_details", {"reservation_id": 12345})], tool_names=False)
    assert one_call(outcome) == ToolCallOut("call_1", "functions.get_reservation_details", {"reservation_id": 12345})
    assert outcome.repairs == Counter()


def test_tool_names_off_still_checks_a_known_tool() -> None:
    outcome = repair(None, [call("get_reservation_details", {})], tool_names=False)
    assert outcome.problem == "tool 'get_reservation_details': missing required argument 'reservation_id'"


# -- several calls -----------------------------------------------------------------------------------------------


def test_every_call_is_repaired_and_counted() -> None:
    outcome = repair(None, [call("get_reservation_details", "{'reservation_id': 'EHGLP3'}", "a"),
                            call("functions.cancel_reservation", {"reservation_id": "EHGLP3"}, "b")])
    assert outcome.calls == [ToolCallOut("a", "get_reservation_details", {"reservation_id": "EHGLP3"}),
                             ToolCallOut("b", "cancel_reservation", {"reservation_id": "EHGLP3"})]
    assert outcome.repairs == Counter({"json_arguments": 1, "tool_name": 1}) and outcome.problem is None


def test_problem_in_one_call_is_the_message_problem_and_the_first_one_wins() -> None:
    outcome = repair(None, [call("get_reservation_details", {"reservation_id": "EHGLP3"}, "a"),
                            call("cancel_reservations", {"reservation_id": "EHGLP3"}, "b"),
                            call("calculate", {}, "c")])
    assert outcome.problem is not None and outcome.problem.startswith("unknown tool 'cancel_reservations'")
    assert [c.id for c in outcome.calls] == ["a"]


# -- re-prompt ---------------------------------------------------------------------------------------------------


def test_reprompt_quotes_the_problem_exactly() -> None:
    problem = "tool 'book_reservation': missing required argument 'insurance'"
    text = reprompt_text(problem)
    assert f"Error: {problem}\n" in text and "one valid message" in text
