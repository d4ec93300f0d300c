"""A copy (induction) circuit wired into a fresh Llama before training (recipe `copy_circuit: true`).

A tool-calling agent copies ids and titles from its request. Trained from scratch, a small model does this with an
induction circuit (a head that attends to where the current tokens occurred before and copies what followed),
which gradient descent finds only after a long plateau: no copying at all after 12,000 mock episodes here. So the
fresh weights start with one, then train as usual:

- layer 0, heads 0 and 1: previous-token heads (attention by position only, through a constant embedding
  dimension and the high-frequency RoPE pairs) writing the content of the token 1 and 2 back into free slices of
  the residual stream;
- layer 1, head 0: matches (current token, previous token) with a position's (previous, previous-previous) on the
  low-frequency RoPE pairs (so the match ignores distance), and writes the attended token's content into another
  free slice: two tokens of context make the match far less ambiguous than one (character-level titles); one more
  pair, through the constant dimension, favours recent positions (the ticket) over the long system prompt;
- the LM head reads that slice as the token it holds (each token's output row there is its content).

Residual layout (width w = 56 of hidden 256): dimension 0 constant, 1..1+w token content, 64.. the token two back,
128.. the token one back, 192.. the copied token. Needs head_dim 64, hidden_size 256 or more and 2 layers.
"""

from __future__ import annotations

from typing import Any

WIDTH = 56  # content dimensions carried per slice
CONTENT, TWO_BACK, ONE_BACK, COPIED = 1, 64, 128, 192  # where each slice starts in the residual stream
POSITION_PAIRS = 8  # RoPE pairs (highest frequencies) of the position-only previous-token heads
POSITION_SCALE = 4.0  # their attention logits: about all weight on the token 1 (or 2) back
MATCH_PAIRS = (21, 32)  # RoPE pairs (lowest frequencies: under 0.6 rad over 200 tokens) the copy head matches on
MATCH_SCALE = 1.0
RECENCY_PAIR = 20  # cos(0.0032 d): about 1 over the ticket, down to 0 some 500 tokens back (the system prompt)
RECENCY_SCALE = 1.7


def check_shape(config: Any) -> None:
    if config.head_dim != 64 or config.hidden_size < 256 or config.num_hidden_layers < 2 or \
            config.num_attention_heads < 2 or config.num_key_value_heads != config.num_attention_heads:
        raise ValueError(f"copy_circuit: needs head_dim 64, hidden_size >= 256, 2 layers and 2 heads without "
                         f"grouped keys (model: head_dim {config.head_dim}, hidden {config.hidden_size}, "
                         f"{config.num_hidden_layers} layers, {config.num_attention_heads}/"
                         f"{config.num_key_value_heads} heads)")


def rope_frequencies(config: Any) -> Any:
    import torch

    parameters = getattr(config, "rope_parameters", None) or {}
    theta = parameters.get("rope_theta") or getattr(config, "rope_theta", 10000.0)
    return 1.0 / (theta ** (torch.arange(0, config.head_dim, 2).float() / config.head_dim))


def clear_head(attention: Any, head: int, size: int) -> None:
    rows = slice(head * size, (head + 1) * size)
    for projection in (attention.q_proj, attention.k_proj, attention.v_proj):
        projection.weight[rows] = 0.0
    attention.o_proj.weight[:, rows] = 0.0


def wire_position_head(attention: Any, head: int, distance: int, frequencies: Any, target: int) -> None:
    """A head attending to the token `distance` back (q . R(i-j) k peaks there whatever the content) and writing
    its content into the slice at `target`."""
    import torch

    size, half = 64, 32
    base = head * size
    for pair in range(POSITION_PAIRS):
        angle = frequencies[pair] * distance
        attention.q_proj.weight[base + pair, 0] = POSITION_SCALE
        attention.k_proj.weight[base + pair, 0] = POSITION_SCALE * torch.cos(angle)
        attention.k_proj.weight[base + pair + half, 0] = POSITION_SCALE * torch.sin(angle)
    for index in range(WIDTH):
        attention.v_proj.weight[base + index, CONTENT + index] = 1.0
        attention.o_proj.weight[target + index, base + index] = 1.0


def wire_copy_circuit(model: Any, seed: int) -> dict[str, Any]:
    """Overwrite the weights the circuit uses (heads 0-1 of layer 0, head 0 of layer 1, slices of the embeddings
    and of the LM head); returns the layout, for the run's record."""
    import torch

    config = model.config
    check_shape(config)
    generator = torch.Generator().manual_seed(seed)
    frequencies = rope_frequencies(config)
    with torch.no_grad():
        embed = model.get_input_embeddings().weight
        embed[:, 0] = 1.0
        embed[:, CONTENT:CONTENT + WIDTH] = torch.randn(embed.shape[0], WIDTH, generator=generator)
        for start in (TWO_BACK, ONE_BACK, COPIED):
            embed[:, start:start + WIDTH] = 0.0
        first, second = model.model.layers[0].self_attn, model.model.layers[1].self_attn
        for attention, heads in ((first, (0, 1)), (second, (0,))):
            for head in heads:
                clear_head(attention, head, 64)
        wire_position_head(first, 0, 1, frequencies, ONE_BACK)
        wire_position_head(first, 1, 2, frequencies, TWO_BACK)
        second.q_proj.weight[RECENCY_PAIR, 0] = RECENCY_SCALE
        second.k_proj.weight[RECENCY_PAIR, 0] = RECENCY_SCALE
        coordinates = [c for pair in range(*MATCH_PAIRS) for c in (pair, pair + 32)]
        half = len(coordinates) // 2
        for slot, coordinate in enumerate(coordinates):
            query, key = (CONTENT, ONE_BACK) if slot < half else (ONE_BACK, TWO_BACK)
            second.q_proj.weight[coordinate, query + slot % half] = MATCH_SCALE
            second.k_proj.weight[coordinate, key + slot % half] = MATCH_SCALE
        for index in range(WIDTH):
            second.v_proj.weight[index, CONTENT + index] = 1.0
            second.o_proj.weight[COPIED + index, index] = 1.0
        model.get_output_embeddings().weight[:, COPIED:COPIED + WIDTH] = embed[:, CONTENT:CONTENT + WIDTH]
    return {"width": WIDTH, "slices": {"content": CONTENT, "two_back": TWO_BACK, "one_back": ONE_BACK,
                                       "copied": COPIED}, "heads": "0-1 of layer 0, 0 of layer 1"}
