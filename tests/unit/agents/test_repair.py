"""Tool-call repair and validation (taustack.agents.repair) on the malformed output small open models really emit.

The tool schemas are written the way pydantic generates tau2's `Tool.openai_schema` (titles, descriptions, `$defs`
with `$ref`, `anyOf` for Optional and for `Model | dict` items). Every repair kind, every problem, every flag off,
and the rule that valid input comes back unchanged with nothing counted.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from taustack.agents.config import RepairConfig
from taustack.agents.repair import RawToolCall, RepairOutcome, ToolCallOut, repair_message, reprompt_text


def tool(name: str, properties: dict[str, Any], required: list[str], **extra: Any) -> dict[str, Any]:
    """An OpenAI tool schema in the shape pydantic emits for a tau2 tool's parameters."""
    parameters: dict[str, Any] = {"properties": properties, "required": required, "title": "parameters",
                                  "type": "object", **extra}
    return {"type": "function", "function": {"name": name, "description": f"{name} (test)", "parameters": parameters}}


def string(title: str, description: str = "") -> dict[str, Any]:
    return {"description": description or title, "title": title, "type": "string"}


def integer(title: str) -> dict[str, Any]:
    return {"description": title, "title": title, "type": "integer"}


FLIGHT_INFO = {"properties": {"flight_number": string("Flight Number", "Flight number, such as 'HAT001'."),
                              "date": string("Date", "The date for the flight in the format 'YYYY-MM-DD'.")},
               "required": ["flight_number", "date"], "title": "FlightInfo", "type": "object"}
PASSENGER = {"properties": {"first_name": string("First Name"), "last_name": string("Last Name"),
                            "dob": string("Dob", "Date of birth in YYYY-MM-DD format")},
             "required": ["first_name", "last_name", "dob"], "title": "Passenger", "type": "object"}
PAYMENT = {"properties": {"payment_id": string("Payment Id"), "amount": integer("Amount")},
           "required": ["payment_id", "amount"], "title": "Payment", "type": "object"}


def items_of(definition: str, title: str) -> dict[str, Any]:
    """`list[Model | dict]` as pydantic emits it."""
    return {"description": title, "title": title, "type": "array",
            "items": {"anyOf": [{"$ref": f"#/$defs/{definition}"}, {"type": "object"}]}}


BOOK_RESERVATION = tool(
    "book_reservation",
    {"user_id": string("User Id", "The ID of the user to book the reservation such as 'sara_doe_496'."),
     "origin": string("Origin"), "destination": string("Destination"),
     "flight_type": {"description": "one_way or round_trip", "enum": ["round_trip", "one_way"],
                     "title": "Flight Type", "type": "string"},
     "cabin": {"description": "The cabin class", "enum": ["business", "economy", "basic_economy"], "title": "Cabin",
               "type": "string"},
     "flights": items_of("FlightInfo", "Flights"), "passengers": items_of("Passenger", "Passengers"),
     "payment_methods": items_of("Payment", "Payment Methods"),
     "total_baggages": integer("Total Baggages"), "nonfree_baggages": integer("Nonfree Baggages"),
     "insurance": {"description": "Whether the reservation has insurance.", "enum": ["yes", "no"],
                   "title": "Insurance", "type": "string"}},
    ["user_id", "origin", "destination", "flight_type", "cabin", "flights", "passengers", "payment_methods",
     "total_baggages", "nonfree_baggages", "insurance"],
    **{"$defs": {"FlightInfo": FLIGHT_INFO, "Passenger": PASSENGER, "Payment": PAYMENT}},
)
APN_SETTINGS = {
    "additionalProperties": False, "title": "APNSettings", "type": "object",
    "properties": {"apn_name": {"$ref": "#/$defs/APNNames", "default": "internet"},
                   "reset_at_reboot": {"default": False, "title": "Reset At Reboot", "type": "boolean"},
                   "mms_port": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None,
                                "title": "Mms Port"}},
}
AIRLINE_TOOLS = [
    tool("get_user_details", {"user_id": string("User Id")}, ["user_id"]),
    tool("get_reservation_details", {"reservation_id": string("Reservation Id", "such as '8JX2WO'")},
         ["reservation_id"]),
    tool("cancel_reservation", {"reservation_id": string("Reservation Id")}, ["reservation_id"]),
    BOOK_RESERVATION,
    tool("update_reservation_baggages", {"reservation_id": string("Reservation Id"),
                                         "total_baggages": integer("Total Baggages"),
                                         "nonfree_baggages": integer("Nonfree Baggages"),
                                         "payment_id": string("Payment Id")},
         ["reservation_id", "total_baggages", "nonfree_baggages", "payment_id"]),
    tool("list_all_airports", {}, []),
    tool("calculate", {"expression": string("Expression", "such as '2 + 2'")}, ["expression"]),
    tool("transfer_to_human_agents", {"summary": string("Summary")}, ["summary"]),
]
RETAIL_TOOLS = [
    tool("find_user_id_by_name_zip", {"first_name": string("First Name"), "last_name": string("Last Name"),
                                      "zip": string("Zip", "The zip code of the user, such as '12345'.")},
         ["first_name", "last_name", "zip"]),
    tool("return_delivered_order_items",
         {"order_id": string("Order Id", "such as '#W0000000'"),
          "item_ids": {"description": "The item ids", "items": {"type": "string"}, "title": "Item Ids",
                       "type": "array"},
          "payment_method_id": string("Payment Method Id")},
         ["order_id", "item_ids", "payment_method_id"]),
    tool("get_product_details", {"product_id": string("Product Id"),
                                 "variant": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None,
                                             "title": "Variant"}},
         ["product_id"]),
]
TELECOM_TOOLS = [
    tool("refuel_data", {"customer_id": string("Customer Id"), "line_id": string("Line Id"),
                         "gb_amount": {"description": "Amount of data", "title": "Gb Amount", "type": "number"}},
         ["customer_id", "line_id", "gb_amount"]),
    tool("set_apn_settings", {"apn_settings": {"$ref": "#/$defs/APNSettings"}}, ["apn_settings"],
         **{"$defs": {"APNNames": {"enum": ["internet", "broken"], "title": "APNNames", "type": "string"},
                      "APNSettings": APN_SETTINGS}}),
    tool("toggle_roaming", {"enabled": {"title": "Enabled", "type": "boolean"}}, ["enabled"]),
]
TOOLS = [*AIRLINE_TOOLS, *RETAIL_TOOLS, *TELECOM_TOOLS]

VALID_BOOKING: dict[str, Any] = {
    "user_id": "mia_li_3668", "origin": "JFK", "destination": "SEA", "flight_type": "one_way", "cabin": "economy",
    "flights": [{"flight_number": "HAT136", "date": "2024-05-20"}],
    "passengers": [{"first_name": "Mia", "last_name": "Li", "dob": "1990-04-05"}],
    "payment_methods": [{"payment_id": "certificate_7504069", "amount": 250}],
    "total_baggages": 1, "nonfree_baggages": 0, "insurance": "no",
}


def call(name: str, arguments: str | dict[str, Any], call_id: str = "call_1") -> RawToolCall:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return RawToolCall(id=call_id, name=name, arguments=text)


def repair(content: str | None, calls: list[RawToolCall], **flags: bool) -> RepairOutcome:
    return repair_message(content, calls, TOOLS, RepairConfig(**flags))


def one_call(outcome: RepairOutcome) -> ToolCallOut:
    assert outcome.problem is None, outcome.problem
    assert len(outcome.calls) == 1, outcome.calls
    return outcome.calls[0]


def booking(**changes: Any) -> dict[str, Any]:
    return {**VALID_BOOKING, **changes}


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


# -- schema_check ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "arguments", "expected"), [
    ("update_reservation_baggages",
     {"reservation_id": "EHGLP3", "total_baggages": "2", "nonfree_baggages": 1, "payment_id": "gift_card_1"},
     {"reservation_id": "EHGLP3", "total_baggages": 2, "nonfree_baggages": 1, "payment_id": "gift_card_1"}),
    ("update_reservation_baggages",
     {"reservation_id": "EHGLP3", "total_baggages": 2.0, "nonfree_baggages": 1, "payment_id": "gift_card_1"},
     {"reservation_id": "EHGLP3", "total_baggages": 2, "nonfree_baggages": 1, "payment_id": "gift_card_1"}),
    ("refuel_data", {"customer_id": "C1", "line_id": "L1", "gb_amount": "3.5"},
     {"customer_id": "C1", "line_id": "L1", "gb_amount": 3.5}),
    ("toggle_roaming", {"enabled": "true"}, {"enabled": True}),
    ("toggle_roaming", {"enabled": "False"}, {"enabled": False}),
    ("return_delivered_order_items",
     {"order_id": "#W2378156", "item_ids": '["4602305039", "3812493782"]', "payment_method_id": "paypal_1"},
     {"order_id": "#W2378156", "item_ids": ["4602305039", "3812493782"], "payment_method_id": "paypal_1"}),
    ("find_user_id_by_name_zip", {"first_name": "Yusuf", "last_name": "Rossi", "zip": 19122},
     {"first_name": "Yusuf", "last_name": "Rossi", "zip": "19122"}),
    ("get_product_details", {"product_id": 6086499569}, {"product_id": "6086499569"}),
    ("get_product_details", {"product_id": "6086499569", "variant": 42}, {"product_id": "6086499569",
                                                                         "variant": "42"}),
    ("set_apn_settings", {"apn_settings": {"reset_at_reboot": "true", "mms_port": "8080"}},
     {"apn_settings": {"reset_at_reboot": True, "mms_port": 8080}}),
])
def test_safe_coercion(name: str, arguments: dict[str, Any], expected: dict[str, Any]) -> None:
    outcome = repair(None, [call(name, arguments)])
    assert one_call(outcome).arguments == expected
    assert outcome.repairs["coercion"] >= 1 and set(outcome.repairs) == {"coercion"}


def test_integer_given_for_a_number_is_kept_as_is() -> None:
    outcome = repair(None, [call("refuel_data", {"customer_id": "C1", "line_id": "L1", "gb_amount": 3})])
    assert one_call(outcome).arguments["gb_amount"] == 3 and outcome.repairs == Counter()


def test_booking_with_string_baggage_count_coerced_once() -> None:
    outcome = repair(None, [call("book_reservation", booking(insurance="yes", total_baggages="2"))])
    assert one_call(outcome).arguments == booking(insurance="yes", total_baggages=2)
    assert outcome.repairs == Counter({"coercion": 1})


def test_missing_required_argument_is_a_problem_naming_it() -> None:
    arguments = booking()
    del arguments["insurance"]
    outcome = repair(None, [call("book_reservation", arguments)])
    assert outcome.problem == "tool 'book_reservation': missing required argument 'insurance'"


def test_enum_violation_is_a_problem() -> None:
    outcome = repair(None, [call("book_reservation", booking(cabin="first"))])
    assert outcome.problem == ("tool 'book_reservation': argument 'cabin' must be one of \"business\", \"economy\", "
                               "\"basic_economy\"; got \"first\"")


def test_enum_is_not_matched_case_insensitively() -> None:
    outcome = repair(None, [call("book_reservation", booking(insurance="Yes"))])
    assert outcome.problem is not None and "argument 'insurance' must be one of" in outcome.problem


@pytest.mark.parametrize(("changes", "problem"), [
    ({"total_baggages": "two"}, "argument 'total_baggages' must be an integer, got a string \"two\""),
    ({"total_baggages": "1.5"}, "argument 'total_baggages' must be an integer, got a string \"1.5\""),
    ({"total_baggages": 1.5}, "argument 'total_baggages' must be an integer, got a number 1.5"),
    ({"total_baggages": True}, "argument 'total_baggages' must be an integer, got a boolean true"),
    ({"user_id": None}, "argument 'user_id' must be a string, got null"),
    ({"flights": "HAT136"}, "argument 'flights' must be an array, got a string \"HAT136\""),
    ({"passengers": ["Mia Li"]}, "argument 'passengers[0]' must be an object, got a string \"Mia Li\""),
])
def test_unsafe_type_mismatch_is_a_problem(changes: dict[str, Any], problem: str) -> None:
    outcome = repair(None, [call("book_reservation", booking(**changes))])
    assert outcome.problem == f"tool 'book_reservation': {problem}"


def test_boolean_is_not_coerced_from_a_number() -> None:
    outcome = repair(None, [call("toggle_roaming", {"enabled": 1})])
    assert outcome.problem == "tool 'toggle_roaming': argument 'enabled' must be a boolean, got an integer 1"


def test_true_is_not_a_member_of_an_integer_enum() -> None:
    tools = [tool("set_priority", {"level": {"enum": [0, 1, 2], "title": "Level"}}, ["level"])]
    outcome = repair_message(None, [call("set_priority", {"level": True})], tools, RepairConfig())
    assert outcome.problem == "tool 'set_priority': argument 'level' must be one of 0, 1, 2; got true"


def test_optional_field_rejects_an_uncoercible_type() -> None:
    outcome = repair(None, [call("get_product_details", {"product_id": "1", "variant": ["red"]})])
    assert outcome.problem == ("tool 'get_product_details': argument 'variant' must be a string or null, got an "
                               "array [\"red\"]")


def test_nested_unknown_key_is_a_problem_where_additional_properties_is_false() -> None:
    outcome = repair(None, [call("set_apn_settings", {"apn_settings": {"apn_name": "internet", "mtu": 1500}})])
    assert outcome.problem == ("tool 'set_apn_settings': unknown argument 'apn_settings.mtu'; the arguments are: "
                               "apn_name, reset_at_reboot, mms_port")


def test_nested_enum_behind_a_ref_is_checked() -> None:
    outcome = repair(None, [call("set_apn_settings", {"apn_settings": {"apn_name": "wap"}})])
    assert outcome.problem is not None and "argument 'apn_settings.apn_name' must be one of" in outcome.problem


def test_unknown_top_level_key_is_kept_when_additional_properties_is_not_false() -> None:
    outcome = repair(None, [call("get_reservation_details", {"reservation_id": "EHGLP3", "user_id": "mia_li_3668"})])
    assert one_call(outcome).arguments == {"reservation_id": "EHGLP3", "user_id": "mia_li_3668"}
    assert outcome.repairs == Counter()


def test_nested_item_coerced_inside_an_array_of_objects() -> None:
    flights = [{"flight_number": "HAT136", "date": "2024-05-20"}]
    outcome = repair(None, [call("book_reservation", booking(flights=json.dumps(flights)))])
    assert one_call(outcome).arguments["flights"] == flights and outcome.repairs == Counter({"coercion": 1})


def test_schema_check_off_keeps_types_and_missing_keys() -> None:
    arguments = {"reservation_id": "EHGLP3", "total_baggages": "2"}
    outcome = repair(None, [call("update_reservation_baggages", arguments)], schema_check=False)
    assert one_call(outcome).arguments == arguments and outcome.repairs == Counter()


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
