"""A model folder to train from scratch (`taustack model init`): a Llama config, a byte-level BPE tokenizer trained
on a dataset's text as the chat template renders it, and the template; no weights (the trainer makes them from the
config, seeded: a recipe with `init: config`).

Host side: the rendering uses transformers' chat-template renderer (no torch), the one training uses.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from taustack.dataset.openai_format import for_template
from taustack.fileio import write_atomic, write_json
from taustack.gguf.tiny import EOS, PAD, TinyConfig, hf_config, tokenizer_config, train_tokenizer
from taustack.training.recipe import TrainingError

TOKENIZER_EXAMPLES = 2000  # rendered examples the tokenizer is trained on (the first of train.jsonl)


@dataclass(frozen=True)
class Shape:
    """The model's size; head_dim is 64 (hidden_size / heads), which vLLM's CPU attention and llama.cpp take."""

    vocab_size: int = 512
    hidden_size: int = 256
    intermediate_size: int = 768
    num_hidden_layers: int = 4
    max_position_embeddings: int = 4096

    @property
    def heads(self) -> int:
        return self.hidden_size // 64

    def check(self) -> None:
        if self.hidden_size % 64 or self.hidden_size < 64:
            raise TrainingError(f"--hidden-size {self.hidden_size}: a multiple of 64 (head_dim 64)")
        if self.vocab_size < 300:
            raise TrainingError(f"--vocab-size {self.vocab_size}: at least 300 (256 bytes, specials and merges)")


def read_records(dataset: Path) -> list[dict[str, Any]]:
    path = dataset / "train.jsonl"
    if not path.is_file():
        raise TrainingError(f"{path}: not found (taustack dataset to-openai writes it)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def rendered_texts(records: list[dict[str, Any]], template: str) -> list[str]:
    """Each record as the chat template renders it for training (tools included)."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")  # "PyTorch was not found": none is needed here
    from transformers.utils.chat_template_utils import render_jinja_template

    texts = []
    for record in records:
        messages, tools = for_template(record)
        rendered, _ = render_jinja_template(conversations=[messages], tools=tools, chat_template=template)
        texts.append(str(rendered[0]))
    return texts


def init_model(out: Path, dataset: Path, template: str, shape: Shape) -> dict[str, Any]:
    """Write OUT/config.json, the tokenizer files (with the chat template) and OUT/init.json (how it was made)."""
    shape.check()
    records = read_records(dataset)
    if not records:
        raise TrainingError(f"{dataset / 'train.jsonl'}: no examples to train a tokenizer on")
    tokenizer = train_tokenizer(shape.vocab_size, rendered_texts(records[:TOKENIZER_EXAMPLES], template))
    tiny = TinyConfig(vocab_size=shape.vocab_size, hidden_size=shape.hidden_size,
                      intermediate_size=shape.intermediate_size, num_hidden_layers=shape.num_hidden_layers,
                      num_attention_heads=shape.heads, num_key_value_heads=shape.heads,
                      max_position_embeddings=shape.max_position_embeddings)
    out.mkdir(parents=True, exist_ok=True)
    config = hf_config(tiny, tokenizer)
    write_json(out / "config.json", config)
    write_json(out / "generation_config.json", {key: config[key] for key in
                                                ("bos_token_id", "eos_token_id", "pad_token_id")})
    write_atomic(out / "tokenizer.json", tokenizer.to_str(pretty=True))
    write_json(out / "tokenizer_config.json", tokenizer_config(template, shape.max_position_embeddings))
    write_json(out / "special_tokens_map.json", {"eos_token": EOS, "pad_token": PAD})
    made = {"shape": asdict(shape), "vocab": tokenizer.get_vocab_size(), "dataset": str(dataset),
            "tokenizer_examples": min(len(records), TOKENIZER_EXAMPLES)}
    write_json(out / "init.json", made)
    return made
