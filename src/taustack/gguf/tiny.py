"""Make the tiny model: a byte-level BPE tokenizer, random Llama weights, HF files and a GGUF.

Nothing is fetched: the tokenizer is trained on the built-in corpus and the weights are random (seeded),
so the model's words are noise while every piece of machinery around it (templates, engines, training)
is real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from taustack.fileio import write_atomic, write_json
from taustack.gguf.corpus import corpus_lines
from taustack.gguf.writer import write_gguf

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
BOS, EOS, PAD = "<|endoftext|>", "<|im_end|>", "<|endoftext|>"


@dataclass(frozen=True)
class TinyConfig:
    """head_dim 64 (hidden 128 over 2 heads): vLLM's CPU attention refuses 16; 2 heads and 2 layers allow TP=2, PP=2."""

    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int = 2
    max_position_embeddings: int = 32768
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    seed: int = 0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


def train_tokenizer(vocab_size: int, lines: list[str] | None = None) -> Tokenizer:
    """Byte-level BPE (GPT-2 pre-tokenization) with ChatML's special tokens, trained on `lines` (default: the
    built-in corpus)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus_lines() if lines is None else lines, trainer)
    return tokenizer


def random_weights(config: TinyConfig, vocab: int) -> dict[str, np.ndarray]:
    """HF Llama tensor names -> float32 arrays ([out, in] for linear layers)."""
    rng = np.random.default_rng(config.seed)
    hidden, inter, head = config.hidden_size, config.intermediate_size, config.head_dim

    def normal(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.02, size=shape).astype(np.float32)

    weights = {"model.embed_tokens.weight": normal(vocab, hidden)}
    for i in range(config.num_hidden_layers):
        prefix = f"model.layers.{i}"
        weights[f"{prefix}.input_layernorm.weight"] = np.ones(hidden, dtype=np.float32)
        weights[f"{prefix}.self_attn.q_proj.weight"] = normal(config.num_attention_heads * head, hidden)
        weights[f"{prefix}.self_attn.k_proj.weight"] = normal(config.num_key_value_heads * head, hidden)
        weights[f"{prefix}.self_attn.v_proj.weight"] = normal(config.num_key_value_heads * head, hidden)
        weights[f"{prefix}.self_attn.o_proj.weight"] = normal(hidden, config.num_attention_heads * head)
        weights[f"{prefix}.post_attention_layernorm.weight"] = np.ones(hidden, dtype=np.float32)
        weights[f"{prefix}.mlp.gate_proj.weight"] = normal(inter, hidden)
        weights[f"{prefix}.mlp.up_proj.weight"] = normal(inter, hidden)
        weights[f"{prefix}.mlp.down_proj.weight"] = normal(hidden, inter)
    weights["model.norm.weight"] = np.ones(hidden, dtype=np.float32)
    weights["lm_head.weight"] = normal(vocab, hidden)
    return weights


def hf_config(config: TinyConfig, tokenizer: Tokenizer) -> dict[str, Any]:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": tokenizer.get_vocab_size(),
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
        "num_key_value_heads": config.num_key_value_heads,
        "head_dim": config.head_dim,
        "max_position_embeddings": config.max_position_embeddings,
        "rms_norm_eps": config.rms_norm_eps,
        "rope_theta": config.rope_theta,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "initializer_range": 0.02,
        "bos_token_id": tokenizer.token_to_id(BOS),
        "eos_token_id": tokenizer.token_to_id(EOS),
        "pad_token_id": tokenizer.token_to_id(PAD),
        "torch_dtype": "float32",
    }


def tokenizer_config(chat_template: str, max_length: int) -> dict[str, Any]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": EOS,
        "pad_token": PAD,
        "unk_token": None,
        "add_bos_token": False,
        "model_max_length": max_length,
        "chat_template": chat_template,
        "added_tokens_decoder": {},
    }


def make_tiny_model(out: Path, chat_template: str, config: TinyConfig | None = None) -> dict[str, Path]:
    """Write OUT/hf/ (config, safetensors, tokenizer with the chat template) and OUT/tiny.gguf."""
    from safetensors.numpy import save_file

    config = config or TinyConfig()
    tokenizer = train_tokenizer(config.vocab_size)
    weights = random_weights(config, tokenizer.get_vocab_size())
    hf_dir = out / "hf"
    hf_dir.mkdir(parents=True, exist_ok=True)
    model_config = hf_config(config, tokenizer)
    write_json(hf_dir / "config.json", model_config)
    write_json(hf_dir / "generation_config.json", {
        "bos_token_id": model_config["bos_token_id"], "eos_token_id": model_config["eos_token_id"],
        "pad_token_id": model_config["pad_token_id"],
    })
    tmp_weights = hf_dir / ".model.safetensors.tmp"
    save_file(weights, str(tmp_weights), metadata={"format": "pt"})
    tmp_weights.replace(hf_dir / "model.safetensors")
    write_atomic(hf_dir / "tokenizer.json", tokenizer.to_str(pretty=True))
    write_json(hf_dir / "tokenizer_config.json", tokenizer_config(chat_template, config.max_position_embeddings))
    write_json(hf_dir / "special_tokens_map.json", {"eos_token": EOS, "pad_token": PAD})
    gguf_path = out / "tiny.gguf"
    write_gguf(gguf_path, model_config, weights, json.loads(tokenizer.to_str()), chat_template)
    return {"hf": hf_dir, "gguf": gguf_path}
