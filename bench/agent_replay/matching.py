"""Every request the replay endpoint gets, checked against the recorded conversation so far.

An agent request must carry the system prompt with the domain policy, the domain's tools, and the agent view of the
recording up to the turn it asks for, message for message: user text equal, tool results equal, dispatched tool calls
equal in name and parsed-JSON arguments (call ids only have to be consistent within the request; an assistant tool
call's accompanying text is not compared: tau2 26.3 dispatches the call and never shows that text to the user).
Two departures are accepted:
  - re-prompts: trailing messages after the turn asked for, each a user message (quoting the error), optionally
    preceded by an assistant message with the bad output as text;
  - trimming: one contiguous block of messages after the opening removed, never separating a tool call from its
    results, with "[Note: N earlier messages ... dropped ...]" appended to the system message (N = the block's size).
A user-simulator request must carry the scenario and the flipped user view of the recording, exactly.
Anything else is a Divergence: the replay failed, and its reason is recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .episodes import Call, Turn, canonical

NOTE = re.compile(r"\[Note: (\d+) earlier messages?[^\]]*dropped[^\]]*\]", re.IGNORECASE | re.DOTALL)


class Divergence(Exception):
    """A request that is not the recorded conversation: CATEGORY groups reasons in the report."""

    def __init__(self, category: str, detail: str, got: Turn | None = None) -> None:
        super().__init__(f"{category}: {detail}")
        self.category = category
        self.detail = detail
        self.got = got  # the request's message where it departs from the recording, when there is one


@dataclass(frozen=True)
class AgentMatch:
    turn: int  # index in the agent view of the recorded assistant message to answer
    reprompts: int  # trailing re-prompt exchanges
    dropped: int  # messages the agent trimmed (0: none)
    same_side_join: bool = False  # the trim put two user (or two agent) messages next to each other


def content_text(content: Any) -> str | None:
    """A message's content as text (a string, or a list of parts whose text parts are joined)."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def arguments_key(arguments: Any) -> str:
    """Canonical JSON of arguments sent as a JSON string (or an object); text that is not a JSON object says so."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return f"<not JSON: {arguments[:80]!r}>"
    if not isinstance(arguments, dict):
        return f"<not an object: {canonical(arguments)[:80]}>"
    return canonical(arguments)


def request_turn(message: dict[str, Any]) -> Turn:
    calls = tuple(Call(str((call.get("function") or {}).get("name")),
                       arguments_key((call.get("function") or {}).get("arguments")), str(call.get("id") or ""))
                  for call in message.get("tool_calls") or [])
    return Turn(role=str(message.get("role")), content=content_text(message.get("content")), calls=calls,
                tool_call_id=message.get("tool_call_id"))


def same(got: Turn, expected: Turn) -> bool:
    if got.role != expected.role:
        return False
    if expected.calls:
        return got.calls == expected.calls
    if got.calls:
        return False
    return (got.content or "") == (expected.content or "")


def sequence_problem(turns: Sequence[Turn]) -> str | None:
    """What tau2 requires of a message sequence: every tool call answered at once by its results, no tool result
    without its call. None when the sequence is valid."""
    index = 0
    while index < len(turns):
        turn = turns[index]
        if turn.role == "tool":
            return f"orphaned tool result at message {index + 1} (no tool call right before it)"
        if turn.calls:
            ids = sorted(call.call_id for call in turn.calls)
            results = turns[index + 1:index + 1 + len(ids)]
            if len(results) < len(ids) or any(result.role != "tool" for result in results):
                return f"tool call at message {index + 1} without all its results after it"
            if sorted(str(result.tool_call_id) for result in results) != ids:
                return f"tool results after message {index + 1} answer other call ids"
            index += 1 + len(ids)
            continue
        index += 1
    return None


def _is_reprompt(extras: Sequence[Turn]) -> bool:
    """(assistant text with the bad output)? then user text quoting the error, once or more."""
    if not extras:
        return True
    index = 0
    while index < len(extras):
        if extras[index].role == "assistant" and not extras[index].calls:
            index += 1
        if index >= len(extras) or extras[index].role != "user":
            return False
        index += 1
    return True


def _mismatch(got: Turn | None, expected: Turn | None, position: int) -> Divergence:
    if expected is None:
        return Divergence("past the recording", f"the request goes on past the recording's end at message {position}")
    if got is None:
        return Divergence("turn missing", f"the request ends at message {position} where the recording has "
                                          f"{expected.describe()}")
    where = f"message {position}: got {got.describe()}, the recording has {expected.describe()}"
    if got.role == expected.role == "tool":
        return Divergence("tool result differs", where, got)
    if got.role == expected.role == "assistant":
        return Divergence("dispatched message differs" if (got.calls or expected.calls) else "assistant text differs",
                          where, got)
    if got.role == expected.role:
        return Divergence(f"{got.role} text differs", where, got)
    return Divergence("turn missing or extra", where, got)


def _side(turn: Turn) -> str:
    return "user" if turn.role == "user" else "agent"


def _block_problem(block: Sequence[Turn]) -> str | None:
    if not block:
        return "an empty block"
    if block[0].role == "tool":
        return "the dropped block starts with a tool result whose call was kept"
    if block[-1].calls:
        return "the dropped block ends with a tool call whose results were kept"
    return None


def check_tools(body: dict[str, Any], names: Sequence[str], side: str) -> None:
    sent = {str((tool.get("function") or {}).get("name")) for tool in body.get("tools") or []}
    missing = sorted(set(names) - sent)
    if missing:
        raise Divergence("tools missing", f"the {side} request lacks tools {', '.join(missing)}")


def match_agent(body: dict[str, Any], recorded: Sequence[Turn], policy: str,
                tool_names: Sequence[str]) -> AgentMatch:
    """The recorded assistant message this agent request asks for, or a Divergence."""
    messages = list(body.get("messages") or [])
    if not messages or messages[0].get("role") != "system":
        raise Divergence("system prompt lost", "the request does not start with a system message")
    system = content_text(messages[0].get("content")) or ""
    if policy not in system:
        raise Divergence("system policy lost", "the system message does not contain the domain policy")
    check_tools(body, tool_names, "agent")
    turns = [request_turn(message) for message in messages[1:]]
    if any(turn.role == "system" for turn in turns):
        raise Divergence("turn missing or extra", "a second system message in the request")
    problem = sequence_problem(turns)
    if problem:
        raise Divergence("invalid sequence", problem)
    note = NOTE.search(system[system.find(policy) + len(policy):])
    dropped = int(note.group(1)) if note else 0
    starts: list[int | None] = [None] if dropped == 0 else list(range(1, max(1, len(recorded) - dropped)))
    best: tuple[int, int, int | None] | None = None  # (matched, next position, start) of the longest alignment
    failures: list[Divergence] = []
    for start in starts:
        positions = list(range(len(recorded))) if start is None else [
            *range(start), *range(start + dropped, len(recorded))]
        matched = 0
        while matched < len(turns) and matched < len(positions) and same(turns[matched], recorded[positions[matched]]):
            matched += 1
        if start is not None and matched <= start:
            continue
        if best is None or matched > best[0]:
            best = (matched, positions[matched] if matched < len(positions) else len(recorded), start)
        following = positions[matched] if matched < len(positions) else len(recorded)
        if not _is_reprompt(turns[matched:]):
            continue
        if following >= len(recorded):
            failures.append(_mismatch(None, None, matched + 1))
            continue
        if recorded[following].role != "assistant":
            failures.append(_mismatch(turns[matched] if matched < len(turns) else None, recorded[following],
                                      matched + 1))
            continue
        if start is not None:
            block_problem = _block_problem(recorded[start:start + dropped])
            if block_problem:
                raise Divergence("invalid trim", block_problem)
        extras = turns[matched:]
        joined = start is not None and _side(recorded[start - 1]) == _side(recorded[start + dropped])
        return AgentMatch(turn=following, reprompts=sum(1 for turn in extras if turn.role == "user"), dropped=dropped,
                          same_side_join=joined)
    if failures:
        raise failures[0]
    if dropped and best is None:
        raise Divergence("invalid trim", f"the note says {dropped} messages were dropped, but no single block of "
                                         f"{dropped} after the opening fits the request")
    matched, following, _ = best if best is not None else (0, 0, None)
    raise _mismatch(turns[matched] if matched < len(turns) else None,
                    recorded[following] if following < len(recorded) else None, matched + 1)


USER_SIDE = {"user text differs": "agent text differs (seen by the user)",
             "assistant text differs": "user text differs", "dispatched message differs": "user tool call differs",
             "tool result differs": "user tool result differs"}


def match_user(body: dict[str, Any], recorded_flipped: Sequence[Turn], scenario: str,
               tool_names: Sequence[str]) -> int:
    """The index (in the user view) of the recorded user message this user-simulator request asks for."""
    try:
        return _match_user(body, recorded_flipped, scenario, tool_names)
    except Divergence as divergence:
        if divergence.category in USER_SIDE:
            raise Divergence(USER_SIDE[divergence.category], f"user simulator request, {divergence.detail} "
                             "(roles as the user simulator sees them: 'user' is the agent)", divergence.got) from None
        raise


def _match_user(body: dict[str, Any], recorded_flipped: Sequence[Turn], scenario: str,
                tool_names: Sequence[str]) -> int:
    messages = list(body.get("messages") or [])
    if not messages or messages[0].get("role") != "system":
        raise Divergence("system prompt lost", "the user simulator's request does not start with a system message")
    if scenario not in (content_text(messages[0].get("content")) or ""):
        raise Divergence("system prompt lost", "the user simulator's system message lacks the task's scenario")
    check_tools(body, tool_names, "user")
    turns = [request_turn(message) for message in messages[1:]]
    problem = sequence_problem(turns)
    if problem:
        raise Divergence("invalid sequence", f"user simulator request: {problem}")
    matched = 0
    while matched < len(turns) and matched < len(recorded_flipped) and same(turns[matched], recorded_flipped[matched]):
        matched += 1
    if matched < len(turns):
        raise _mismatch(turns[matched], recorded_flipped[matched] if matched < len(recorded_flipped) else None,
                        matched + 1)
    if matched >= len(recorded_flipped):
        raise Divergence("past the recording", "the user simulator is asked for a turn the recording does not have")
    if recorded_flipped[matched].role != "assistant":  # flipped: the user's own messages are "assistant"
        raise _mismatch(None, recorded_flipped[matched], matched + 1)
    return matched


def estimate_tokens(body: dict[str, Any]) -> int:
    """The endpoint's token count of a request: characters of its messages and tools as JSON, divided by 4."""
    characters = len(json.dumps(body.get("messages") or [])) + len(json.dumps(body.get("tools") or []))
    return (characters + 3) // 4


def completion_tokens_requested(body: dict[str, Any]) -> int:
    return int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
