"""Training from scratch in the CPU trainer image: the shared-prefix loss is the plain loss (value and gradients),
and the wired copy circuit copies before any training, where a fresh model does not."""

from __future__ import annotations

import json

import pytest

from tests.docker.conftest import docker

pytestmark = pytest.mark.docker

SHARED_PREFIX = """
import json, torch
from transformers import LlamaConfig, LlamaForCausalLM
from taustack.trainer.prefix import common_prefix, shared_prefix_forward, token_loss
torch.manual_seed(0)
config = LlamaConfig(vocab_size=300, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=2, head_dim=64)
model = LlamaForCausalLM(config)
prefix = torch.randint(3, 300, (70,))
rows, lengths = [], (30, 41, 25)
for length in lengths:
    rows.append(torch.cat([prefix, torch.randint(3, 300, (length,))]))
width = max(len(r) for r in rows)
ids = torch.zeros(3, width, dtype=torch.long); mask = torch.zeros_like(ids); labels = torch.full_like(ids, -100)
for i, row in enumerate(rows):
    ids[i, :len(row)] = row; mask[i, :len(row)] = 1; labels[i, 72:len(row)] = row[72:]
inputs = {"input_ids": ids, "attention_mask": mask, "labels": labels}
plain = model(**inputs).loss
plain.backward()
plain_grads = [p.grad.clone() for p in model.parameters()]
model.zero_grad()
shared = common_prefix(ids, mask)
logits, shifted = shared_prefix_forward(model, inputs, shared)
loss, count, _ = token_loss(logits, shifted, None)
loss.backward()
worst = max(float((p.grad - g).abs().max()) for p, g in zip(model.parameters(), plain_grads))
print(json.dumps({"prefix": shared, "plain": float(plain), "shared": float(loss), "labels": count,
                  "expected_labels": int((labels[:, 1:] != -100).sum()), "gradient_difference": worst}))
"""

COPY_CIRCUIT = """
import json, random, torch
from transformers import LlamaConfig, LlamaForCausalLM
from taustack.trainer.copycircuit import wire_copy_circuit
def accuracy(model):
    random.seed(1); hits = total = 0
    for _ in range(64):
        span = [random.randint(10, 499) for _ in range(random.randint(3, 10))]
        head = [random.randint(10, 499) for _ in range(random.randint(5, 40))]
        tail = [random.randint(10, 499) for _ in range(random.randint(3, 20))]
        sequence = head + [5] + span + [6] + tail + [7] + span
        with torch.no_grad():
            predicted = model(input_ids=torch.tensor([sequence])).logits[0].argmax(-1)
        start = len(sequence) - len(span)
        hits += sum(int(predicted[i - 1]) == sequence[i] for i in range(start + 1, len(sequence)))
        total += len(span) - 1
    return hits / total
config = LlamaConfig(vocab_size=512, hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                     num_attention_heads=4, num_key_value_heads=4, head_dim=64, tie_word_embeddings=False)
torch.manual_seed(0)
fresh = LlamaForCausalLM(config)
before = accuracy(fresh)
layout = wire_copy_circuit(fresh, seed=0)
print(json.dumps({"fresh": before, "wired": accuracy(fresh), "layout": layout}))
"""


def run_in_trainer(image: str, script: str) -> dict[str, object]:
    result = docker("run", "--rm", image, "python", "-c", script, timeout=600)
    parsed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def test_the_shared_prefix_loss_and_gradients_are_the_plain_ones(trainer_image: str) -> None:
    measured = run_in_trainer(trainer_image, SHARED_PREFIX)
    assert measured["prefix"] == 64  # 70 common tokens, rounded down to a multiple of 32... and of the rows
    assert measured["labels"] == measured["expected_labels"]
    assert abs(float(measured["plain"]) - float(measured["shared"])) < 1e-5, measured  # type: ignore[arg-type]
    assert float(measured["gradient_difference"]) < 1e-5, measured  # type: ignore[arg-type]


def test_the_copy_circuit_copies_before_any_training(trainer_image: str) -> None:
    measured = run_in_trainer(trainer_image, COPY_CIRCUIT)
    print(f"\n[measure] copy accuracy at init: fresh {measured['fresh']:.2f}, with the copy circuit "
          f"{measured['wired']:.2f}")
    assert float(measured["fresh"]) < 0.1  # type: ignore[arg-type]
    assert float(measured["wired"]) > 0.6  # type: ignore[arg-type]
