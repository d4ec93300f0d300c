"""Token counting (taustack.agents.tokens): a tokenizer folder's counts (a small BPE tokenizer trained here), the
estimate that over-counts it, and the tokenizer-folder errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from taustack.agents.config import AgentConfigError, ContextConfig
from taustack.agents.context import trim_to_budget
from taustack.agents.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, EstimateCounter, TokenizerCounter, counter_for
from tests.unit.agents.episodes import (
    ESTIMATE,
    SYSTEM_PROMPT,
    TOOLS,
    USER_ID,
    airline_episode,
    assert_calls_and_results_paired,
    ending_with_results,
    user,
)

# -- counters ---------------------------------------------------------------------------------------------------


def corpus() -> list[str]:
    texts = [SYSTEM_PROMPT, json.dumps(TOOLS)]
    for message in airline_episode(rounds=3):
        texts.append(message.get("content") or "")
        texts += [tool_call["function"]["arguments"] for tool_call in message.get("tool_calls") or []]
    return [text for text in texts if text]


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-level BPE tokenizer (the kind Qwen and Llama 3 ship) trained here on the episode's own texts."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=4000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(corpus(), trainer=trainer)
    folder = tmp_path_factory.mktemp("tokenizer")
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def test_the_tokenizer_counter_counts_text_with_the_tokenizer(tokenizer_folder: Path) -> None:
    counter = TokenizerCounter.from_folder(tokenizer_folder)
    tokenizer = Tokenizer.from_file(str(tokenizer_folder / "tokenizer.json"))
    text = "Which reservation would you like to change?"
    assert counter.text_tokens(text) == len(tokenizer.encode(text, add_special_tokens=False).ids) > 1
    assert counter.text_tokens("") == 0
    assert counter.count([user(text)], []) == (REPLY_PRIMING + MESSAGE_OVERHEAD + counter.text_tokens("user")
                                               + counter.text_tokens(text))


def test_the_tokenizer_counter_counts_calls_results_and_tools(tokenizer_folder: Path) -> None:
    counter = TokenizerCounter.from_folder(tokenizer_folder)
    messages = airline_episode(rounds=1)
    with_call = counter.count(messages[:4], [])
    assert with_call > counter.count(messages[:3], []) + counter.text_tokens(json.dumps({"user_id": USER_ID})) - 2
    assert counter.count(messages, TOOLS) > counter.count(messages, []) + counter.text_tokens(json.dumps(TOOLS)) - 1


def test_the_estimate_over_counts_a_real_tokenizer(tokenizer_folder: Path) -> None:
    counter = TokenizerCounter.from_folder(tokenizer_folder)
    for text in corpus():
        assert ESTIMATE.text_tokens(text) >= counter.text_tokens(text), text[:80]
    messages = ending_with_results(airline_episode())
    assert ESTIMATE.count(messages, TOOLS) >= counter.count(messages, TOOLS)


@pytest.mark.parametrize("text", ["2024-05-15 15:00:00 EST, card 4111111111111111, $1,234.56",
                                  "HATHAT 4WQ150 8JX2WO ZFA04Y", '{"a":1,"b":[2,3]}'])
def test_the_estimate_counts_digits_capitals_and_punctuation_generously(text: str) -> None:
    """Qwen splits numbers into digits, random capitals are ~1.5 letters a token, JSON punctuation ~1 a token."""
    digits = sum(character.isdigit() for character in text)
    assert ESTIMATE.text_tokens(text) >= digits + (len(text.encode()) - digits) / 3


def test_random_capital_codes_count_about_one_token_per_letter_and_a_half() -> None:
    """Measured on cl100k, o200k and Claude's tokenizer: six random capitals average 3.75 tokens."""
    for code in ("QXJZKW", "HATHAT", "ZFAWYB"):
        assert ESTIMATE.text_tokens(code) >= 4


def test_trimming_with_the_tokenizer_counter_fits(tokenizer_folder: Path) -> None:
    counter = TokenizerCounter.from_folder(tokenizer_folder)
    messages = airline_episode()
    budget = counter.count(messages, TOOLS) // 2
    trimmed = trim_to_budget(messages, TOOLS, budget, keep_opening=2, counter=counter)
    assert trimmed.tokens == counter.count(trimmed.messages, TOOLS) <= budget
    assert_calls_and_results_paired(trimmed.messages)


def test_counter_for_uses_the_tokenizer_folder_or_the_estimate(tokenizer_folder: Path) -> None:
    assert isinstance(counter_for(ContextConfig()), EstimateCounter)
    assert isinstance(counter_for(ContextConfig(tokenizer=str(tokenizer_folder))), TokenizerCounter)
    assert isinstance(TokenizerCounter.from_folder(tokenizer_folder / "tokenizer.json"), TokenizerCounter)


def test_a_folder_without_tokenizer_json_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match=r"context\.tokenizer: .* has no tokenizer\.json"):
        counter_for(ContextConfig(tokenizer=str(tmp_path)))


def test_a_broken_tokenizer_json_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(AgentConfigError, match="is not a tokenizers file"):
        TokenizerCounter.from_folder(tmp_path)
