"""The built-in text the tiny tokenizer is trained on: agent dialogue, tool calls and JSON."""

from __future__ import annotations

import json
from typing import Any

SENTENCES = """\
Hello, I would like to change my flight reservation to next Tuesday.
Sure, I can help you with that. Could you please give me your user id and the reservation number?
My user id is mia_li_3668 and the reservation id is 4WQ150.
Thank you. Let me look up the reservation details before making any change.
The flight from New York to Seattle leaves at 10:30 in the morning and arrives at 1:45 in the afternoon.
I am sorry, but basic economy tickets cannot be modified according to the policy.
Would you like me to cancel the order and refund the payment to the original credit card?
Yes, please go ahead and cancel it. I confirm the cancellation.
The order has been cancelled and the refund will arrive in five to seven business days.
Is there anything else I can help you with today?
Please check the status of my order number W2378156 and tell me when it will be delivered.
The package with the red mechanical keyboard was shipped yesterday and is in transit.
I want to exchange the water bottle for a larger one with the same color.
Your phone shows no signal: please turn airplane mode off and restart the device.
The mobile data is now working and the speed test shows forty megabits per second.
You are a helpful customer service agent. Follow the policy and use the tools to help the user.
Before taking any action that updates the database, obtain explicit confirmation from the user.
You should not make up any information or procedures that are not provided by the user or the tools.
The weather today is sunny with a light wind from the west and a high of twenty degrees.
One, two, three, four, five, six, seven, eight, nine, ten: numbers 0 1 2 3 4 5 6 7 8 9 100 2024.
"""

TOOL_CALLS: list[dict[str, Any]] = [
    {"name": "get_user_details", "arguments": {"user_id": "mia_li_3668"}},
    {"name": "get_reservation_details", "arguments": {"reservation_id": "4WQ150"}},
    {"name": "cancel_pending_order", "arguments": {"order_id": "#W2378156", "reason": "no longer needed"}},
    {"name": "search_direct_flight", "arguments": {"origin": "JFK", "destination": "SEA", "date": "2024-05-20"}},
    {"name": "toggle_airplane_mode", "arguments": {"enabled": False}},
    {"name": "set_priority", "arguments": {"level": "high", "notify": True, "count": 3}},
]

SCHEMA = {
    "type": "function",
    "function": {
        "name": "exchange_delivered_order_items",
        "description": "Exchange items in a delivered order for new items of the same product type.",
        "parameters": {
            "type": "object",
            "properties": {
                "order_id": {"type": "string", "description": "The order id, such as #W0000000."},
                "item_ids": {"type": "array", "items": {"type": "string"}},
                "payment_method_id": {"type": "string", "enum": ["credit_card_1", "gift_card_2"]},
                "confirm": {"type": "boolean"},
            },
            "required": ["order_id", "item_ids", "payment_method_id"],
        },
    },
}


def corpus_lines() -> list[str]:
    """Sentences plus the shapes the chat template produces (tool calls, JSON, chat markers)."""
    lines = SENTENCES.splitlines()
    for call in TOOL_CALLS:
        lines.append("<tool_call>\n" + json.dumps(call) + "\n</tool_call>")
        lines.append("<tool_response>\n" + json.dumps({"status": "ok", **call["arguments"]}) + "\n</tool_response>")
    lines.append(json.dumps(SCHEMA))
    lines.append("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>")
    return lines * 4
