"""Arguments checked against the tool's schema (taustack.agents.schema through repair_message): safe coercions,
required keys, enums, `$ref`, `anyOf`, nested objects and arrays; every problem named by tool and key."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.unit.agents.repair_fixtures import (
    RepairConfig,
    booking,
    call,
    one_call,
    repair,
    repair_message,
    tool,
)

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

