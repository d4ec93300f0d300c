"""A long tau2 airline episode built for the context and token tests: the real airline system prompt and tool
schemas from the domain catalog, user and assistant turns, tool calls with their results, parallel calls with two
results; and the checks both test modules make of a trimmed history."""

from __future__ import annotations

import json
from typing import Any

from taustack.agents.context import trim_to_budget
from taustack.agents.tokens import EstimateCounter
from tests.helpers import DOMAINS

AIRLINE = json.loads((DOMAINS / "airline.json").read_text())
SYSTEM_PROMPT: str = AIRLINE["system_prompt_agent"]
TOOLS: list[dict[str, Any]] = AIRLINE["agent_tools"]
NOTE = "earlier messages of this conversation were dropped to fit the context window."
USER_ID = "mia_li_3668"
ESTIMATE = EstimateCounter()


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def calls(*tool_calls: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": list(tool_calls)}


def result(call_id: str, payload: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(payload, indent=2)}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text, "tool_calls": None}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def user_record() -> dict[str, Any]:
    return {"user_id": USER_ID, "name": {"first_name": "Mia", "last_name": "Li"},
            "address": {"address1": "975 Sunset Drive", "address2": "Suite 217", "city": "Austin", "country": "USA",
                        "state": "TX", "zip": "78750"},
            "email": "mia.li3818@example.com", "dob": "1990-04-05",
            "payment_methods": {"credit_card_4421486": {"source": "credit_card", "brand": "visa",
                                                        "last_four": "7447", "id": "credit_card_4421486"},
                                "certificate_7504069": {"source": "certificate", "amount": 250,
                                                        "id": "certificate_7504069"}},
            "saved_passengers": [{"first_name": "Amelia", "last_name": "Ahmed", "dob": "1957-03-21"}],
            "membership": "gold", "reservations": ["NO6JO3", "AIXC49", "HKEG34", "4WQ150", "ZFA04Y"]}


def reservation(reservation_id: str, day: int) -> dict[str, Any]:
    flights = [{"origin": "JFK", "destination": "SEA", "flight_number": f"HAT{100 + day}",
                "date": f"2024-05-{day:02d}", "price": 120 + day}]
    return {"reservation_id": reservation_id, "user_id": USER_ID, "origin": "JFK", "destination": "SEA",
            "flight_type": "one_way", "cabin": "economy", "flights": flights,
            "passengers": [{"first_name": "Mia", "last_name": "Li", "dob": "1990-04-05"}],
            "payment_history": [{"payment_id": "credit_card_4421486", "amount": 120 + day}],
            "created_at": "2024-05-01T10:12:00", "total_baggages": 1, "nonfree_baggages": 0, "insurance": "no"}


def flight_options(day: int) -> list[dict[str, Any]]:
    return [{"flight_number": f"HAT{200 + n}", "origin": "JFK", "destination": "SEA", "status": "available",
             "scheduled_departure_time_est": f"{6 + n:02d}:00:00", "scheduled_arrival_time_est": f"{12 + n:02d}:30:00",
             "date": f"2024-05-{day:02d}", "available_seats": {"basic_economy": 9, "economy": 4 + n, "business": 2},
             "prices": {"basic_economy": 80 + n, "economy": 150 + n, "business": 410 + n}} for n in range(4)]


def airline_episode(rounds: int = 10) -> list[dict[str, Any]]:
    """system, greeting, request, a user lookup, then per round: two reservations looked up in parallel, a question,
    an answer, a flight search, a confirmation request and the user's yes; the latest message is the user's."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, assistant("Hi! How can I help you today?"),
                user(f"Hi, I need to move my flights to later dates. My user id is {USER_ID}."),
                calls(call("call_user", "get_user_details", user_id=USER_ID)), result("call_user", user_record())]
    for r in range(rounds):
        first, second = f"R{r}AAAA", f"R{r}BBBB"
        messages += [
            calls(call(f"call_{r}_a", "get_reservation_details", reservation_id=first),
                  call(f"call_{r}_b", "get_reservation_details", reservation_id=second)),
            result(f"call_{r}_a", reservation(first, 10 + r)), result(f"call_{r}_b", reservation(second, 11 + r)),
            assistant(f"I found reservations {first} (JFK to SEA on May {10 + r}) and {second} (May {11 + r}). "
                      "Which one would you like to change, and to which date?"),
            user(f"The {first} one, please move it to May {20 + r}. Economy is fine."),
            calls(call(f"call_{r}_s", "search_direct_flight", origin="JFK", destination="SEA",
                       date=f"2024-05-{20 + r}")),
            result(f"call_{r}_s", flight_options(20 + r)),
            assistant(f"Here are the options for May {20 + r}: HAT200 at 06:00, HAT201 at 07:00, HAT202 at 08:00 "
                      "and HAT203 at 09:00, all in economy. Shall I move your flight to HAT201 for $151 (yes/no)?"),
            user("Yes, HAT201 please."),
        ]
    return messages


def ending_with_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The episode whose latest messages are a parallel call and its two results (the model must answer them)."""
    return [*messages, calls(call("call_end_a", "get_reservation_details", reservation_id="ZFA04Y"),
                             call("call_end_b", "get_flight_status", flight_number="HAT201", date="2024-05-25")),
            result("call_end_a", reservation("ZFA04Y", 25)), result("call_end_b", {"status": "available"})]


def call_ids(message: dict[str, Any]) -> list[str]:
    return [tool_call["id"] for tool_call in message.get("tool_calls") or []]


def assert_calls_and_results_paired(messages: list[dict[str, Any]]) -> None:
    """Every tool message answers a call of an earlier kept assistant message, every kept call has its result."""
    open_calls: set[str] = set()
    answered: set[str] = set()
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] in open_calls, f"orphaned tool result {message['tool_call_id']}"
            answered.add(message["tool_call_id"])
        open_calls.update(call_ids(message))
    assert open_calls == answered, f"calls without their results: {sorted(open_calls - answered)}"


def total_tokens(messages: list[dict[str, Any]]) -> int:
    return ESTIMATE.count(messages, TOOLS)


def budgets(messages: list[dict[str, Any]], *shares: float) -> list[int]:
    """Budgets `share` of the way from the kept minimum (system prompt, tools, opening, latest) to the total."""
    minimum = trim_to_budget(messages, TOOLS, 0, keep_opening=2, counter=ESTIMATE).tokens
    return [int(minimum + share * (total_tokens(messages) - minimum)) for share in shares]


def between(messages: list[dict[str, Any]], share: float) -> int:
    return budgets(messages, share)[0]
