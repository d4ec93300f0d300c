"""Whole tau2 episodes as GRPO completions: the model's own tokens carry loss, everything else is masked.

A completion is every token after the prompt: each model turn exactly as generated (mask 1), and between turns the
tool results, user messages and the next generation prompt as the model's own chat template renders them (mask 0:
TRL's `env_mask`). Turns are batched across the group's episodes. One reward per episode (tau2's evaluator; GRPO
gives each episode's advantage to all of its tokens, so every assistant turn gets it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from taustack.trainer.turns import Turn, parse_turn

# prompt ids (prompt + completion so far) per active episode -> (generated ids, their logprobs or None)
Generate = Callable[[list[list[int]]], tuple[list[list[int]], list[list[float]] | None]]


class EpisodeLike(Protocol):
    done: bool

    def tools(self) -> list[dict[str, Any]]: ...
    def start(self) -> list[dict[str, Any]]: ...
    def act(self, turn: Turn) -> tuple[dict[str, Any], list[dict[str, Any]]]: ...
    def stop(self) -> None: ...


class TemplateError(ValueError):
    """The chat template renders a conversation so that an earlier rendering is not its prefix."""


class ChatRenderer:
    """The model's chat template, with the episode's tools, as token ids (tokenizer: a transformers tokenizer)."""

    def __init__(self, tokenizer: Any, tools: list[dict[str, Any]]) -> None:
        self.tokenizer, self.tools = tokenizer, tools
        self.eos_text: str = tokenizer.eos_token or ""

    def text(self, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
        rendered: str = self.tokenizer.apply_chat_template(messages, tools=self.tools or None, tokenize=False,
                                                           add_generation_prompt=generation_prompt)
        return rendered

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def prompt(self, messages: list[dict[str, Any]]) -> list[int]:
        return self.encode(self.text(messages, generation_prompt=True))

    def between_turns(self, before: list[dict[str, Any]], answer: list[dict[str, Any]],
                      ended_with_eos: bool) -> list[int]:
        """The tokens after a model turn (which `before` ends with) up to the next generation prompt: what the
        template adds after the turn's end-of-turn token, the answer's messages, the generation prompt."""
        head = self.text(before, generation_prompt=False)
        full = self.text(before + answer, generation_prompt=True)
        if not full.startswith(head):
            raise TemplateError("the chat template renders a conversation's earlier turns differently once later "
                                "turns follow; episodes cannot be tokenized turn by turn with it")
        cut = head.rfind(self.eos_text) if self.eos_text else -1
        tail = head[cut + len(self.eos_text):] if cut >= 0 else ""
        if not ended_with_eos and self.eos_text:  # a turn cut at the token limit still ends as the template ends it
            tail = self.eos_text + tail
        return self.encode(tail + full[len(head):])


@dataclass
class Transcript:
    """One episode's tokens and messages as it is played."""

    prompt_ids: list[int]
    messages: list[dict[str, Any]]
    completion_ids: list[int] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    turns: int = 0
    malformed: int = 0
    truncated: bool = False

    def add(self, ids: Sequence[int], model: bool, logprobs: Sequence[float] | None = None) -> None:
        self.completion_ids.extend(ids)
        self.env_mask.extend([1 if model else 0] * len(ids))
        self.logprobs.extend(list(logprobs) if logprobs is not None else [0.0] * len(ids))

    @property
    def context(self) -> list[int]:
        return self.prompt_ids + self.completion_ids


def play(episodes: Sequence[EpisodeLike], system_prompts: Sequence[str], tokenizer: Any, generate: Generate,
         eos_ids: set[int], budget: int) -> list[Transcript]:
    """Play every episode to its end, one batched turn at a time; an episode whose completion would pass `budget`
    tokens is cut there (its last turn shortened) and stopped."""
    transcripts, renderers = [], []
    for episode, system in zip(episodes, system_prompts, strict=True):
        messages = [{"role": "system", "content": system}, *episode.start()]
        renderers.append(ChatRenderer(tokenizer, episode.tools()))  # the tools exist once the episode started
        transcripts.append(Transcript(renderers[-1].prompt(messages), messages))
    while active := [i for i, episode in enumerate(episodes) if not episode.done]:
        generated, logprobs = generate([transcripts[i].context for i in active])
        for position, i in enumerate(active):
            episode, transcript, renderer = episodes[i], transcripts[i], renderers[i]
            ids = list(generated[position])
            scores = logprobs[position] if logprobs is not None else None
            room = budget - len(transcript.completion_ids)
            if len(ids) > room:  # the turn would pass the budget: cut there, end the episode (scored as cut)
                transcript.add(ids[:room], model=True, logprobs=scores[:room] if scores is not None else None)
                transcript.turns += 1
                transcript.truncated = True
                episode.stop()
                continue
            transcript.add(ids, model=True, logprobs=scores)
            transcript.turns += 1
            turn = parse_turn(tokenizer.decode(ids, skip_special_tokens=True))
            transcript.malformed += len(turn.malformed)
            played, answer = episode.act(turn)  # the turn as tau2 got it: how later prompts render it
            if episode.done:
                continue
            before = [*transcript.messages, played]
            between = renderer.between_turns(before, answer, ended_with_eos=bool(ids) and ids[-1] in eos_ids)
            if len(transcript.completion_ids) + len(between) >= budget:
                transcript.truncated = True
                episode.stop()
                continue
            transcript.add(between, model=False)
            transcript.messages = before + answer
    return transcripts
