"""Write a Llama model as GGUF with the `gguf` package: metadata, BPE vocabulary, tensors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

GENERATION_MARKERS = re.compile(r"\{%-?\s*(end)?generation\s*-?%\}")


def serving_template(chat_template: str) -> str:
    """The template without `{% generation %}` markers: they render nothing, but only HF knows them."""
    return GENERATION_MARKERS.sub("", chat_template)


def permute_for_gguf(weight: np.ndarray, heads: int) -> np.ndarray:
    """HF stores q/k rows for rotate-half RoPE; llama.cpp expects them interleaved (as convert_hf_to_gguf)."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def gguf_tensors(config: dict[str, Any], weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    per_layer = {
        "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
        "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    tensors = {}
    for name, array in weights.items():
        match = re.match(r"model\.layers\.(\d+)\.(.+)\.weight$", name)
        if match:
            layer, part = match.groups()
            if part == "self_attn.q_proj":
                array = permute_for_gguf(array, config["num_attention_heads"])
            elif part == "self_attn.k_proj":
                array = permute_for_gguf(array, config["num_key_value_heads"])
            tensors[f"blk.{layer}.{per_layer[part]}.weight"] = array
        else:
            tensors[names[name]] = array
    return tensors


def write_gguf(
    path: Path, config: dict[str, Any], weights: dict[str, np.ndarray], tokenizer_json: dict[str, Any],
    chat_template: str, half: bool = False,
) -> None:
    """A GGUF of the model (F32; `half`: matrices in F16, norms F32, half the size), written to a temporary name and
    renamed into place."""
    import gguf

    vocab: dict[str, int] = tokenizer_json["model"]["vocab"]
    added = {token["content"]: token["id"] for token in tokenizer_json.get("added_tokens", [])}
    size = max([*vocab.values(), *added.values()]) + 1
    tokens = [""] * size
    types = [int(gguf.TokenType.NORMAL)] * size
    for token, index in vocab.items():
        tokens[index] = token
    for token, index in added.items():
        tokens[index] = token
        types[index] = int(gguf.TokenType.CONTROL)
    merges = [" ".join(pair) if isinstance(pair, list) else pair for pair in tokenizer_json["model"]["merges"]]

    tmp = path.with_name(f".{path.name}.tmp")
    writer = gguf.GGUFWriter(str(tmp), "llama")
    writer.add_name("taustack-tiny")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_dimension_count(config["head_dim"])
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_file_type(int(gguf.LlamaFileType.MOSTLY_F16 if half else gguf.LlamaFileType.ALL_F32))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_pad_token_id(config["pad_token_id"])
    writer.add_add_bos_token(False)
    writer.add_chat_template(serving_template(chat_template))
    for name, array in gguf_tensors(config, weights).items():
        dtype = np.float16 if half and array.ndim == 2 else np.float32
        writer.add_tensor(name, np.ascontiguousarray(array, dtype=dtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(path)
