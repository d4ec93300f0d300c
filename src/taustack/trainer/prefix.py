"""Shared-prefix batches: the tokens every example of a batch starts with (a tau2 domain's system prompt and tools)
go through the model once per batch instead of once per example; each example's own tokens attend to that prefix
through the key/value cache, and the gradient flows back through it, so the loss is the plain one, computed for
less. On the mock domain the common prefix is about 530 of 650 tokens.
"""

from __future__ import annotations

from typing import Any

ALIGN = 32  # prefix lengths are rounded down to this, so batches repeat a few tensor shapes (CPU kernels are cached)


def common_prefix(input_ids: Any, attention_mask: Any) -> int:
    """How many leading tokens every row shares (all real tokens, none the last of its row), rounded down to ALIGN."""
    import torch

    lengths = attention_mask.sum(dim=1)
    limit = int(lengths.min().item()) - 1
    if input_ids.size(0) < 2 or limit < ALIGN:
        return 0
    same = (input_ids[:, :limit] == input_ids[:1, :limit]).all(dim=0)
    differs = torch.nonzero(~same)
    shared = int(differs[0].item()) if differs.numel() else limit
    return shared - shared % ALIGN


def shared_prefix_forward(model: Any, inputs: dict[str, Any], prefix: int) -> tuple[Any, Any]:
    """(logits of the tokens after the prefix, their labels shifted to match): the prefix runs once (batch 1), its
    keys and values are repeated for every row, the rest runs against them at positions prefix.. ."""
    import torch

    input_ids, attention_mask, labels = inputs["input_ids"], inputs["attention_mask"], inputs["labels"]
    rows, length = input_ids.shape
    base = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    cache = base(input_ids=input_ids[:1, :prefix], use_cache=True).past_key_values
    cache.batch_repeat_interleave(rows)
    positions = torch.arange(prefix, length, device=input_ids.device).unsqueeze(0).expand(rows, -1)
    logits = model(input_ids=input_ids[:, prefix:], attention_mask=attention_mask, position_ids=positions,
                   past_key_values=cache, use_cache=False).logits
    return logits[:, :-1], labels[:, prefix + 1:]


def token_loss(logits: Any, labels: Any, num_items: Any | None) -> tuple[Any, int, int]:
    """(summed cross-entropy / num_items (or the label count), labels counted, top-1 hits) over labels != -100."""
    import torch

    flat_logits, flat_labels = logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1)
    total = torch.nn.functional.cross_entropy(flat_logits, flat_labels, ignore_index=-100, reduction="sum")
    mask = flat_labels != -100
    count = int(mask.sum().item())
    hits = int((flat_logits.argmax(-1)[mask] == flat_labels[mask]).sum().item())
    denominator = num_items if num_items is not None else count
    return total / torch.as_tensor(denominator).clamp(min=1), count, hits


def prefix_trainer_class(base: type) -> type:
    """`base` (TRL's SFTTrainer) whose training loss runs each batch's common prefix once."""

    class SharedPrefixTrainer(base):  # type: ignore[misc]  # (Any base class)
        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any | None = None) -> Any:
            prefix = common_prefix(inputs["input_ids"], inputs["attention_mask"]) if model.training else 0
            if prefix == 0 or return_outputs or "labels" not in inputs:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            logits, labels = shared_prefix_forward(model, inputs, prefix)
            loss, count, hits = token_loss(logits, labels, num_items_in_batch)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            self._metrics["train"]["mean_token_accuracy"].append(hits / max(1, count))
            self._total_train_tokens += int(inputs["attention_mask"].sum().item())
            self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
            return loss

    return SharedPrefixTrainer
