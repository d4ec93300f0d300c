"""Self-consistency (taustack.agents.voting): actions normalised from tau2 airline calls, plain and weighted votes,
their tie-breaks and fallbacks, per-sample seeds, mean logprobs from OpenAI choices."""

from __future__ import annotations

import math
import zlib
from types import SimpleNamespace
from typing import Any

import pytest

from taustack.agents import voting
from taustack.agents.voting import RESPOND, Candidate, action_key, mean_logprob, sample_seeds, vote

LOOKUP = ("get_reservation_details", {"reservation_id": "ZFA04Y"})
OTHER_LOOKUP = ("get_reservation_details", {"reservation_id": "4WQ150"})
UPDATE = ("update_reservation_flights", {"reservation_id": "ZFA04Y", "cabin": "economy", "payment_id": "gift_card_1",
                                         "flights": [{"flight_number": "HAT201", "date": "2024-05-25"}]})


def key(*calls: tuple[str, dict[str, Any]]) -> str:
    return action_key(None, list(calls))


def candidates(*pairs: tuple[str, float | None]) -> list[Candidate]:
    return [Candidate(key=name, mean_logprob=logprob) for name, logprob in pairs]


# -- action keys ------------------------------------------------------------------------------------------------


def test_any_text_reply_is_the_respond_action() -> None:
    assert action_key("Could you give me your user id?", []) == RESPOND
    assert action_key("Sure, let me check.", []) == action_key(None, []) == RESPOND


def test_calls_are_keyed_by_name_and_arguments_whatever_their_key_order_or_spacing() -> None:
    shuffled = ("update_reservation_flights", {"flights": [{"date": "2024-05-25 ", "flight_number": " HAT201"}],
                                               "payment_id": "gift_card_1", "cabin": "economy\n",
                                               "reservation_id": "ZFA04Y"})
    assert key(UPDATE) == key(shuffled)
    assert key((" get_reservation_details ", {"reservation_id": " ZFA04Y "})) == key(LOOKUP)


def test_integral_floats_are_the_same_action_and_booleans_stay_booleans() -> None:
    assert key(("send_certificate", {"user_id": "mia_li_3668", "amount": 100.0})) == \
        key(("send_certificate", {"user_id": "mia_li_3668", "amount": 100}))
    assert key(("f", {"flag": True})) != key(("f", {"flag": 1}))
    assert key(("f", {"amount": 100.5})) != key(("f", {"amount": 100}))


def test_different_arguments_and_call_order_are_different_actions() -> None:
    assert key(LOOKUP) != key(OTHER_LOOKUP)
    assert key(LOOKUP, OTHER_LOOKUP) != key(OTHER_LOOKUP, LOOKUP)
    assert key(LOOKUP) != key(LOOKUP, LOOKUP) != RESPOND


def test_text_beside_calls_does_not_change_the_action() -> None:
    assert action_key("Let me look that up.", [LOOKUP]) == key(LOOKUP)


# -- votes ------------------------------------------------------------------------------------------------------


def test_the_majority_wins_by_count_at_its_first_sample() -> None:
    result = vote(candidates(("respond", -0.1), ("lookup", -2.0), ("lookup", -2.5), ("update", -0.2),
                             ("lookup", -1.0)), weighted=False)
    assert (result.winner, result.tie_broken_by, result.distinct) == (1, "count", 3)
    assert result.agreement == pytest.approx(3 / 5)


def test_unanimous_samples_agree_fully() -> None:
    result = vote(candidates(("lookup", None), ("lookup", None), ("lookup", None)), weighted=True)
    assert (result.winner, result.agreement, result.distinct, result.tie_broken_by) == (0, 1.0, 1, "count")


def test_a_tie_goes_to_the_higher_mean_logprob() -> None:
    result = vote(candidates(("respond", -1.5), ("lookup", -0.2), ("respond", -1.1), ("lookup", -0.4)),
                  weighted=False)
    assert (result.winner, result.tie_broken_by) == (1, "logprob")
    assert result.agreement == 0.5


def test_a_tie_with_a_missing_logprob_goes_to_the_first_sampled() -> None:
    result = vote(candidates(("respond", -1.5), ("lookup", -0.2), ("respond", None), ("lookup", -0.4)),
                  weighted=False)
    assert (result.winner, result.tie_broken_by) == (0, "first")


def test_a_tie_at_equal_logprobs_goes_to_the_first_sampled() -> None:
    result = vote(candidates(("lookup", -0.5), ("respond", -0.5)), weighted=False)
    assert (result.winner, result.tie_broken_by) == (0, "first")


def test_a_missing_logprob_outside_the_tie_does_not_matter() -> None:
    result = vote(candidates(("update", None), ("respond", -1.5), ("lookup", -0.2), ("respond", -1.5),
                             ("lookup", -0.3)), weighted=False)
    assert (result.winner, result.tie_broken_by) == (2, "logprob")


def test_weighted_lets_a_confident_minority_win() -> None:
    samples = candidates(("respond", -3.0), ("respond", -3.0), ("lookup", -0.1))
    plain, weighted = vote(samples, weighted=False), vote(samples, weighted=True)
    assert (plain.winner, plain.tie_broken_by) == (0, "count")
    assert (weighted.winner, weighted.tie_broken_by) == (2, "logprob")
    assert 2 * math.exp(-3.0) < math.exp(-0.1)
    assert weighted.agreement == pytest.approx(1 / 3)


def test_weighted_sums_the_weights_of_a_key() -> None:
    samples = candidates(("lookup", -0.7), ("respond", -0.5), ("lookup", -0.7))
    assert 2 * math.exp(-0.7) > math.exp(-0.5)
    assert vote(samples, weighted=True).winner == 0


def test_weighted_falls_back_to_counts_when_a_logprob_is_missing() -> None:
    samples = candidates(("respond", -3.0), ("respond", None), ("lookup", -0.1))
    result = vote(samples, weighted=True)
    assert (result.winner, result.tie_broken_by) == (0, "count")


def test_weighted_at_equal_weights_goes_to_the_first_sampled() -> None:
    result = vote(candidates(("respond", -0.3), ("lookup", -0.3)), weighted=True)
    assert (result.winner, result.tie_broken_by) == (0, "first")


def test_voting_on_real_actions_merges_spacing_variants() -> None:
    keys = [key(LOOKUP), key(("get_reservation_details", {"reservation_id": "ZFA04Y "})), key(OTHER_LOOKUP),
            action_key("Which reservation?", [])]
    result = vote([Candidate(k, None) for k in keys], weighted=False)
    assert (result.winner, result.distinct, result.tie_broken_by) == (0, 3, "count")


def test_no_candidates_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one candidate"):
        vote([], weighted=False)


# -- seeds ------------------------------------------------------------------------------------------------------


def test_seeds_are_deterministic_distinct_and_in_range() -> None:
    seeds = sample_seeds(300, 32)
    assert seeds == sample_seeds(300, 32)
    assert len(set(seeds)) == 32
    assert all(isinstance(seed, int) and 0 <= seed < 2**31 for seed in seeds)


def test_seeds_depend_on_the_episode_seed_and_extend_consistently() -> None:
    assert sample_seeds(300, 5) != sample_seeds(301, 5)
    assert sample_seeds(300, 5) == sample_seeds(300, 8)[:5]
    assert 300 not in sample_seeds(300, 5)


def test_a_hash_collision_is_re_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A collision in 2**31 is too rare to meet: force every first hash to collide."""
    monkeypatch.setattr(voting, "_hashed", lambda text: 7 if text.count(":") == 1 else zlib.crc32(text.encode()))
    seeds = sample_seeds(300, 3)
    assert seeds[0] == 7 and len(set(seeds)) == 3


def test_no_seed_leaves_every_sample_unseeded() -> None:
    assert sample_seeds(None, 4) == [None, None, None, None]
    assert sample_seeds(7, 0) == []
    with pytest.raises(ValueError, match="samples"):
        sample_seeds(7, -1)


# -- logprobs ---------------------------------------------------------------------------------------------------


def test_mean_logprob_of_an_openai_choice() -> None:
    logprobs = {"content": [{"token": "Sure", "logprob": -0.25, "bytes": [83], "top_logprobs": []},
                            {"token": ",", "logprob": -0.75, "bytes": [44], "top_logprobs": []},
                            {"token": " one", "logprob": -2.0, "bytes": [32], "top_logprobs": []}]}
    assert mean_logprob(logprobs) == pytest.approx(-1.0)


@pytest.mark.parametrize("logprobs", [None, {}, {"content": None}, {"content": []},
                                      {"content": [{"token": "a", "logprob": None}]},
                                      {"content": [{"token": "a", "logprob": float("nan")}]}])
def test_no_logprobs_is_none(logprobs: dict[str, Any] | None) -> None:
    assert mean_logprob(logprobs) is None


def test_entries_without_a_number_are_skipped_and_attributes_work() -> None:
    content = [SimpleNamespace(token="a", logprob=-1.0), SimpleNamespace(token="b", logprob=None),
               {"token": "c", "logprob": -3.0}]
    assert mean_logprob({"content": content}) == pytest.approx(-2.0)
