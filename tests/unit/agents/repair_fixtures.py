"""Tool schemas for the repair tests, written the way pydantic generates tau2's `Tool.openai_schema` (titles,
descriptions, `$defs` with `$ref`, `anyOf` for Optional and for `Model | dict` items), and the helpers the repair
test modules share."""

from __future__ import annotations

import json
from typing import Any

from taustack.agents.config import RepairConfig
from taustack.agents.repair import RawToolCall, RepairOutcome, ToolCallOut, repair_message


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
