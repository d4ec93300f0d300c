"""Self-consistency: n samples of the agent's next message, a vote over their normalised actions.

Plain majority voting gives no consistent gain on interactive tasks; likelihood-weighted voting gave +1.3 to +6.6
points (Soft Self-Consistency, arXiv 2402.13212), hence `weighted`. Pure: stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RESPOND = "respond"
SEED_MODULUS = 2**31


def _normalised(value: Any) -> Any:
    """Strings stripped, integral floats as ints (3.0 and 3 are one action), containers normalised through."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(key).strip(): _normalised(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalised(item) for item in value]
    return value


def action_key(content: str | None, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """The action a sample takes, normalised: "respond" for a text reply (whatever the text: replies are not
    compared), else its calls as canonical JSON, [{"name", "arguments"}] in the sample's order, keys sorted,
    strings stripped, 3.0 written 3. A message with text beside its calls is keyed by its calls. `content` is
    accepted for the call site's symmetry; only whether there are calls matters."""
    if not calls:
        return RESPOND
    actions = [{"name": name.strip(), "arguments": _normalised(arguments)} for name, arguments in calls]
    return json.dumps(actions, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Candidate:
    key: str
    mean_logprob: float | None  # mean token logprob of the sample, None when the engine gave none


@dataclass(frozen=True)
class Vote:
    winner: int  # index into candidates: the first sample of the winning key
    agreement: float  # share of samples with the winner's key
    distinct: int  # number of distinct keys
    tie_broken_by: str  # "count", "logprob", "first"


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _earliest(keys: Sequence[str], first: Mapping[str, int]) -> str:
    return min(keys, key=lambda key: first[key])


def vote(candidates: Sequence[Candidate], weighted: bool) -> Vote:
    """The winning action among the samples (ValueError when there are none).

    Plain: the key with the most samples; a tie goes to the tied key whose samples have the higher mean logprob
    where every sample of the tied keys has one (tie_broken_by "logprob"), else (or at equal logprobs) to the key
    sampled first ("first"); a key with the most samples alone wins by "count". weighted=True: each sample counts
    exp(mean_logprob) (its geometric-mean token probability) and the key with the highest sum wins ("logprob";
    "count" when all samples agree, "first" at equal sums); when any sample lacks a logprob the vote falls back to
    plain counts. `agreement` is always a share of samples, not of weight.
    """
    if not candidates:
        raise ValueError("vote needs at least one candidate")
    first: dict[str, int] = {}
    members: dict[str, list[int]] = {}
    for index, candidate in enumerate(candidates):
        first.setdefault(candidate.key, index)
        members.setdefault(candidate.key, []).append(index)
    keys = list(first)
    logprobs = [candidate.mean_logprob for candidate in candidates]
    if len(keys) == 1:
        winner, rule = keys[0], "count"
    elif weighted and all(value is not None for value in logprobs):
        winner, rule = _weighted_winner(keys, members, candidates, first)
    else:
        winner, rule = _plain_winner(keys, members, candidates, first)
    return Vote(winner=first[winner], agreement=len(members[winner]) / len(candidates), distinct=len(keys),
                tie_broken_by=rule)


def _sample_logprobs(key: str, members: Mapping[str, list[int]], candidates: Sequence[Candidate]) -> list[float]:
    return [value for index in members[key] if (value := candidates[index].mean_logprob) is not None]


def _weighted_winner(keys: Sequence[str], members: Mapping[str, list[int]], candidates: Sequence[Candidate],
                     first: Mapping[str, int]) -> tuple[str, str]:
    weights = {key: sum(math.exp(value) for value in _sample_logprobs(key, members, candidates)) for key in keys}
    best = max(weights.values())
    top = [key for key in keys if weights[key] == best]
    return (top[0], "logprob") if len(top) == 1 else (_earliest(top, first), "first")


def _plain_winner(keys: Sequence[str], members: Mapping[str, list[int]], candidates: Sequence[Candidate],
                  first: Mapping[str, int]) -> tuple[str, str]:
    most = max(len(members[key]) for key in keys)
    tied = [key for key in keys if len(members[key]) == most]
    if len(tied) == 1:
        return tied[0], "count"
    if all(candidates[index].mean_logprob is not None for key in tied for index in members[key]):
        means = {key: _mean(_sample_logprobs(key, members, candidates)) for key in tied}
        best = max(means.values())
        top = [key for key in tied if means[key] == best]
        if len(top) == 1:
            return top[0], "logprob"
        return _earliest(top, first), "first"
    return _earliest(tied, first), "first"


def sample_seeds(seed: int | None, samples: int) -> list[int | None]:
    """One seed per sample, derived from tau2's seed: sha256 of f"{seed}:{i}" modulo 2**31 (distinct: a collision
    is re-hashed with a counter). None (tau2 gave no seed) gives [None] * samples: the engine draws."""
    if samples < 0:
        raise ValueError(f"samples must be >= 0, got {samples}")
    if seed is None:
        return [None] * samples
    seeds: list[int | None] = []
    for index in range(samples):
        text, attempt = f"{seed}:{index}", 0
        value = _hashed(text)
        while value in seeds:
            attempt += 1
            value = _hashed(f"{text}:{attempt}")
        seeds.append(value)
    return seeds


def _hashed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") % SEED_MODULUS


def _field(item: Any, name: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def mean_logprob(choice_logprobs: Mapping[str, Any] | None) -> float | None:
    """The mean token logprob of an OpenAI choice's "logprobs" ({"content": [{"token", "logprob"}, ...]}; litellm's
    objects with the same attributes work too); None when absent or empty. Entries without a number (or NaN) are
    skipped; vLLM's -9999.0 for an impossible token is kept (it pulls the mean down, as it should)."""
    if choice_logprobs is None:
        return None
    content = _field(choice_logprobs, "content")
    if not content:
        return None
    values = []
    for entry in content:
        value = _field(entry, "logprob")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
            values.append(float(value))
    return _mean(values) if values else None
