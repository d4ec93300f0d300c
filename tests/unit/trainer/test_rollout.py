"""rollout.play without torch: masks, the text between turns, the token budget, a template that rewrites history.

The tokenizer here is a stand-in with the three calls play uses (apply_chat_template, __call__, decode; one id per
character, `<E>` the end-of-turn token); the real tokenizer and the real tau2 run in tests/docker/test_grpo.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from taustack.trainer.rollout import TemplateError, play
from taustack.trainer.turns import Turn

EOS = "<E>"
EOS_ID = 0


class CharTokenizer:
    eos_token = EOS
    eos_token_id = EOS_ID

    def __init__(self, rewrite_history: bool = False) -> None:
        self.rewrite_history = rewrite_history

    def apply_chat_template(self, messages: list[dict[str, Any]], tools: Any = None, tokenize: bool = False,
                            add_generation_prompt: bool = False) -> str:
        parts = []
        for index, message in enumerate(messages):
            body = message.get("content") or json.dumps(message.get("tool_calls"))
            if self.rewrite_history and message["role"] == "assistant" and index < len(messages) - 1:
                body = "(earlier turn)"
            parts.append(f"[{message['role']}]{body}{EOS}\n")
        return "".join(parts) + ("[assistant]" if add_generation_prompt else "")

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        ids, rest = [], text
        while rest:
            if rest.startswith(EOS):
                ids.append(EOS_ID)
                rest = rest[len(EOS):]
            else:
                ids.append(ord(rest[0]))
                rest = rest[1:]
        return {"input_ids": ids}

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return "".join("" if i == EOS_ID and skip_special_tokens else EOS if i == EOS_ID else chr(i) for i in ids)


class ScriptedEpisode:
    """Answers every turn with one tool result; ends after `turns` turns."""

    def __init__(self, turns: int) -> None:
        self.turns, self.done, self.stopped, self.seen = turns, False, False, []  # type: ignore[var-annotated]

    def tools(self) -> list[dict[str, Any]]:
        return []

    def start(self) -> list[dict[str, Any]]:
        return [{"role": "user", "content": "ticket"}]

    def act(self, turn: Turn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        self.seen.append(turn)
        self.done = len(self.seen) >= self.turns
        played = {"role": "assistant", "content": turn.content or ""}
        return played, [] if self.done else [{"role": "tool", "content": f"result {len(self.seen)}",
                                              "tool_call_id": "c"}]

    def stop(self) -> None:
        self.done = self.stopped = True


def generator(tokenizer: CharTokenizer, texts: list[str]) -> Any:
    turns = iter(texts)

    def generate(contexts: list[list[int]]) -> tuple[list[list[int]], None]:
        text = next(turns)
        return [tokenizer(text)["input_ids"] for _ in contexts], None

    return generate


def test_model_tokens_are_unmasked_and_the_rest_is_the_templates_text() -> None:
    tokenizer = CharTokenizer()
    episode = ScriptedEpisode(turns=2)
    (transcript,) = play([episode], ["sys"], tokenizer, generator(tokenizer, ["call one<E>", "done<E>"]),
                         {EOS_ID}, 1000)
    assert tokenizer.decode(transcript.prompt_ids) == "[system]sys<E>\n[user]ticket<E>\n[assistant]"
    model = [t for t, m in zip(transcript.completion_ids, transcript.env_mask, strict=True) if m]
    masked = [t for t, m in zip(transcript.completion_ids, transcript.env_mask, strict=True) if not m]
    assert tokenizer.decode(model) == "call one<E>done<E>"
    assert tokenizer.decode(masked) == "\n[tool]result 1<E>\n[assistant]"
    assert transcript.turns == 2 and not transcript.truncated and [t.content for t in episode.seen] == [
        "call one", "done"]


def test_a_turn_cut_at_the_token_limit_gets_its_end_of_turn_masked() -> None:
    tokenizer = CharTokenizer()
    (transcript,) = play([ScriptedEpisode(turns=2)], ["sys"], tokenizer, generator(tokenizer, ["cut", "done<E>"]),
                         {EOS_ID}, 1000)
    masked = [t for t, m in zip(transcript.completion_ids, transcript.env_mask, strict=True) if not m]
    assert tokenizer.decode(masked) == "<E>\n[tool]result 1<E>\n[assistant]"


def test_an_episode_over_its_budget_is_cut_and_stopped() -> None:
    tokenizer = CharTokenizer()
    episodes = [ScriptedEpisode(turns=5), ScriptedEpisode(turns=1)]
    transcripts = play(episodes, ["sys", "sys"], tokenizer, generator(tokenizer, ["a" * 20 + "<E>"] * 5),
                       {EOS_ID}, 30)
    assert transcripts[0].truncated and episodes[0].stopped and transcripts[0].turns == 1
    assert not transcripts[1].truncated and not episodes[1].stopped
    assert len(transcripts[0].completion_ids) == 21  # the cut turn's own tokens, nothing after them


def test_a_template_that_rewrites_earlier_turns_is_refused() -> None:
    tokenizer = CharTokenizer(rewrite_history=True)
    with pytest.raises(TemplateError, match="renders a conversation's earlier turns differently"):
        play([ScriptedEpisode(turns=2)], ["sys"], tokenizer, generator(tokenizer, ["x<E>", "y<E>"]), {EOS_ID}, 1000)


def test_a_turn_that_would_pass_the_budget_is_cut_to_it() -> None:
    tokenizer = CharTokenizer()
    episode = ScriptedEpisode(turns=3)
    (transcript,) = play([episode], ["sys"], tokenizer, generator(tokenizer, ["b" * 40 + "<E>"]), {EOS_ID}, 10)
    assert transcript.completion_ids == [ord("b")] * 10 and transcript.env_mask == [1] * 10
    assert transcript.truncated and episode.stopped and episode.seen == []  # the cut turn is never played
