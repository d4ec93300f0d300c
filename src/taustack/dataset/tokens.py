"""`dataset stats`: token counts per example with a real tokenizer, and what each max_length would cut.

Tokens are counted as the trainer sees them: the chat template applied to `for_template(record)`, with the
template's `{% generation %}` markers giving the assistant tokens. transformers and matplotlib load lazily.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taustack.dataset.openai import SPLIT_FILES, iter_examples
from taustack.dataset.openai_format import for_template, to_record
from taustack.dataset.results import DatasetError
from taustack.fileio import write_json

POWERS = tuple(2**n for n in range(9, 16))  # 512 .. 32768
QUANTILES = (0.5, 0.9, 0.95, 0.99, 1.0)
MAX_LOSS = 0.01
SUMMARY, PLOT = "token_stats.json", "token_stats.png"


@dataclass(frozen=True)
class ExampleTokens:
    total: int
    system: int  # the system message and the tool schemas, as the template renders them
    assistant_positions: tuple[int, ...]  # token positions the loss is computed on

    @property
    def assistant(self) -> int:
        return len(self.assistant_positions)


def records(folder: Path) -> Iterator[dict[str, Any]]:
    """train.jsonl and test.jsonl when written, else the lines to-openai would write from examples.jsonl."""
    files = [folder / name for name in SPLIT_FILES.values()]
    if all(f.is_file() for f in files):
        for path in files:
            with path.open(encoding="utf-8") as lines:
                yield from (json.loads(line) for line in lines if line.strip())
    else:
        for example in iter_examples(folder):
            yield to_record(example["messages"], example["tools"])


def load_tokenizer(path: str) -> Any:
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise DatasetError("dataset stats needs transformers: pip install 'taustack[train]'") from None
    if not Path(path).exists():
        raise DatasetError(f"--tokenizer {path}: no such folder (give a local tokenizer or model folder)")
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"--tokenizer {path}: {str(exc).splitlines()[0]}") from None


def count(tokenizer: Any, record: dict[str, Any], cache: dict[str, int] | None = None) -> ExampleTokens:
    """Total, system+tools and assistant tokens of one record; `cache` keeps system counts across examples."""
    messages, tools = for_template(record)
    full = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                         return_assistant_tokens_mask=True)
    mask = full.get("assistant_masks")
    if mask is None or not any(mask):
        raise DatasetError("the tokenizer's chat template has no {% generation %} markers: assistant tokens "
                           "cannot be told apart")
    system = messages[:1] if messages and messages[0]["role"] == "system" else []
    key = json.dumps([system, tools], sort_keys=True)
    cache = {} if cache is None else cache
    if key not in cache:
        cache[key] = len(tokenizer.apply_chat_template(system, tools=tools, tokenize=True, return_dict=True)
                         ["input_ids"]) if system or tools else 0
    system_tokens = cache[key]
    return ExampleTokens(len(full["input_ids"]), system_tokens,
                         tuple(i for i, flag in enumerate(mask) if flag))


def summarize(examples: list[ExampleTokens]) -> dict[str, Any]:
    """Totals, quantiles, the share of assistant tokens lost at each candidate max_length, the recommendation."""
    if not examples:
        raise DatasetError("the dataset has no examples")
    totals = sorted(e.total for e in examples)
    positions = sorted(p for e in examples for p in e.assistant_positions)
    quantiles = {f"p{round(q * 100)}": totals[min(len(totals) - 1, math.ceil(q * len(totals)) - 1)]
                 for q in QUANTILES}
    candidates = sorted(set(POWERS) | set(quantiles.values()))
    rows = []
    for length in candidates:
        lost = len(positions) - bisect.bisect_left(positions, length)
        rows.append({"max_length": length, "assistant_tokens_lost": lost,
                     "assistant_share_lost": lost / len(positions),
                     "examples_truncated": sum(1 for t in totals if t > length)})
    allowed = math.floor(MAX_LOSS * len(positions))
    recommended = positions[len(positions) - allowed - 1] + 1
    return {
        "examples": len(examples), "tokens": sum(totals), "assistant_tokens": len(positions),
        "system_tokens": sum(e.system for e in examples),
        "per_example": {"total": quantiles, "mean_total": sum(totals) / len(totals),
                        "mean_system": sum(e.system for e in examples) / len(examples),
                        "mean_assistant": len(positions) / len(examples)},
        "max_loss": MAX_LOSS, "recommended_max_length": recommended,
        "candidates": rows,
    }


def plot(summary: dict[str, Any], examples: list[ExampleTokens], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4))
    left.hist([e.total for e in examples], bins=min(40, max(5, len(examples))), color="#4c72b0")
    left.set(title="tokens per example", xlabel="tokens", ylabel="examples")
    rows = summary["candidates"]
    right.plot([r["max_length"] for r in rows], [100 * r["assistant_share_lost"] for r in rows], marker="o")
    right.axvline(summary["recommended_max_length"], color="#c44e52", linestyle="--",
                  label=f"recommended {summary['recommended_max_length']} (<= {MAX_LOSS:.0%} lost)")
    right.set_xscale("log", base=2)
    right.set(title="assistant tokens lost by truncation", xlabel="max_length", ylabel="% of assistant tokens")
    right.legend()
    figure.tight_layout()
    temp = path.with_name(f".{path.name}.tmp")
    figure.savefig(temp, format="png", dpi=100)
    pyplot.close(figure)
    temp.replace(path)


def token_stats(folder: Path, tokenizer_path: str) -> tuple[dict[str, Any], list[ExampleTokens]]:
    """Count every example, write token_stats.json and token_stats.png into the dataset folder."""
    tokenizer = load_tokenizer(tokenizer_path)
    cache: dict[str, int] = {}
    examples = [count(tokenizer, record, cache) for record in records(folder)]
    summary = {"tokenizer": tokenizer_path, **summarize(examples)}
    write_json(folder / SUMMARY, summary)
    plot(summary, examples, folder / PLOT)
    return summary, examples
