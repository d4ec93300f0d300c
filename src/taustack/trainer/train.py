"""SFT inside the trainer image: `python -m taustack.trainer.train --recipe ... --dataset ... --output ...`.

LoRA on a pretrained model (method: lora, the default), or every parameter (method: full), of a pretrained model or of
one made from its folder's config.json (init: config: seeded fresh weights, the folder's tokenizer). bf16 on the CPU
is autocast (sft.bf16: true); shared_prefix: true runs each batch's common prefix once (trainer/prefix.py).

Each train.jsonl line becomes (messages, tools) through openai_format.for_template and is tokenized here with the
model's chat template (tools passed as a list, so Arrow never pads tool schemas with nulls); TRL gets input_ids
(+ assistant_masks when the recipe asks for assistant_only_loss). The log history goes to metrics.jsonl.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from taustack.dataset.openai_format import for_template
from taustack.trainer.resume import train_or_resume
from taustack.training.recipe import Recipe, TrainingError, load_recipe


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_template(tokenizer: Any, assistant_only: bool) -> None:
    """Assistant-only loss needs {% generation %} markers: keep the model's template, or TRL's patched one."""
    if not assistant_only:
        return
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if tokenizer.chat_template and has_generation_markers(tokenizer.chat_template):
        return
    patched = get_training_chat_template(tokenizer)
    if patched is None:
        raise TrainingError("assistant_only_loss: the model's chat template has no {% generation %} markers and TRL "
                            "has no patched template for it; set sft.assistant_only_loss: false")
    tokenizer.chat_template = patched


def tokenize(tokenizer: Any, records: list[dict[str, Any]], assistant_only: bool) -> dict[str, list[list[int]]]:
    """Columns input_ids (+ assistant_masks); examples without an assistant token to learn from are dropped."""
    columns: dict[str, list[list[int]]] = {"input_ids": []}
    if assistant_only:
        columns["assistant_masks"] = []
    dropped = 0
    for record in records:
        messages, tools = for_template(record)
        encoded = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=assistant_only)
        if assistant_only:
            mask = list(encoded["assistant_masks"])
            if 1 not in mask:
                dropped += 1
                continue
            columns["assistant_masks"].append(mask)
        columns["input_ids"].append(list(encoded["input_ids"]))
    if dropped:
        print(f"[taustack] {dropped} example(s) without assistant tokens dropped", flush=True)
    return columns


def config_arguments(values: dict[str, Any], output: Path, cpu: bool) -> dict[str, Any]:
    """A TRL config's keyword arguments (SFT's and GRPO's): the recipe's section, the run's checkpoints folder, one
    [taustack] line per log step instead of a progress bar, and the CPU settings (bf16 stays as the recipe says:
    autocast on the CPU; fp16 is a GPU format)."""
    arguments = dict(values)
    arguments["output_dir"] = str(output / "checkpoints")
    arguments.setdefault("report_to", "none")
    arguments.setdefault("disable_tqdm", True)
    if cpu:
        arguments.update(use_cpu=True, bf16=bool(values.get("bf16", False)), fp16=False)
    return arguments


def sft_arguments(recipe: Recipe, output: Path, cpu: bool) -> dict[str, Any]:
    """SFTConfig keyword arguments; the assistant mask is a column of the pre-tokenized dataset (TRL applies it when
    it builds labels), so TRL's own assistant_only_loss stays off."""
    arguments = config_arguments(recipe.sft, output, cpu)
    arguments["assistant_only_loss"] = False
    if recipe.shared_prefix:  # the prefix's key/value cache cannot be recomputed by checkpointing (recipe.py refuses)
        arguments["gradient_checkpointing"] = False
    return arguments


def metrics_callback(path: Path) -> Any:
    """A TrainerCallback appending each log to metrics.jsonl and printing one progress line."""
    from transformers import TrainerCallback

    class MetricsFile(TrainerCallback):  # type: ignore[misc]  # (Any base class)
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            row = {"step": state.global_step, "max_steps": state.max_steps, "epoch": state.epoch,
                   "time": round(time.time(), 3), **logs}
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
            shown = " ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
                             for key, value in logs.items())
            print(f"[taustack] step {state.global_step}/{state.max_steps} {shown}", flush=True)

    return MetricsFile()


def train(recipe: Recipe, dataset: Path, model_path: str, output: Path, resume: bool) -> None:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from taustack.trainer.prefix import prefix_trainer_class

    cpu = not torch.cuda.is_available()
    assistant_only = bool(recipe.value("sft", "assistant_only_loss"))
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    training_template(tokenizer, assistant_only)
    train_rows = tokenize(tokenizer, read_jsonl(dataset / "train.jsonl"), assistant_only)
    test_rows = tokenize(tokenizer, read_jsonl(dataset / "test.jsonl"), assistant_only)
    if not train_rows["input_ids"]:
        raise TrainingError(f"{dataset / 'train.jsonl'}: no examples to train on")
    eval_dataset = Dataset.from_dict(test_rows) if test_rows["input_ids"] else None
    if eval_dataset is None and recipe.value("sft", "eval_strategy") != "no":
        raise TrainingError(f"sft.eval_strategy: {recipe.value('sft', 'eval_strategy')}, but "
                            f"{dataset / 'test.jsonl'} has no examples")
    print(f"[taustack] {len(train_rows['input_ids'])} train / {len(test_rows['input_ids'])} test examples, "
          f"{'CPU' if cpu else f'{torch.cuda.device_count()} GPU(s)'}", flush=True)

    model = load_model(model_path, recipe.init, int(recipe.value("sft", "seed")), cpu, recipe.copy_circuit)
    trainer_class = prefix_trainer_class(SFTTrainer) if recipe.shared_prefix else SFTTrainer
    trainer = trainer_class(
        model=model,
        args=SFTConfig(**sft_arguments(recipe, output, cpu)),
        train_dataset=Dataset.from_dict(train_rows),
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(**{"task_type": "CAUSAL_LM", **recipe.lora}) if recipe.method == "lora" else None,
        callbacks=[metrics_callback(output / "metrics.jsonl")],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the [taustack] lines say the same
    train_or_resume(trainer, output, resume)
    if trainer.is_world_process_zero():
        save_trained(trainer, tokenizer, output, recipe.method)


def load_model(model_path: str, init: str, seed: int, cpu: bool, copy_circuit: bool = False) -> Any:
    """The model to train: its pretrained weights, or (init: config) fresh ones from its config.json, seeded (with a
    copy circuit wired in: trainer/copycircuit.py)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    dtype = torch.float32 if cpu else "auto"
    if init == "pretrained":
        return AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_path), dtype=torch.float32)
    count = sum(parameter.numel() for parameter in model.parameters())
    print(f"[taustack] a new {model.config.model_type} from {model_path}/config.json: {count / 1e6:.2f}M parameters "
          f"(seed {seed})", flush=True)
    if copy_circuit:
        from taustack.trainer.copycircuit import wire_copy_circuit

        try:
            layout = wire_copy_circuit(model, seed)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        print(f"[taustack] copy circuit wired in: {layout}", flush=True)
    return model


def save_trained(trainer: Any, tokenizer: Any, output: Path, method: str) -> None:
    """LoRA: the adapter (output/adapter); full: the whole model (output/model), each with the tokenizer."""
    folder = output / ("adapter" if method == "lora" else "model")
    trainer.save_model(str(folder))
    tokenizer.save_pretrained(str(folder))
    print(f"[taustack] {'adapter' if method == 'lora' else 'model'} saved: {folder}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taustack.trainer.train", description=__doc__)
    parser.add_argument("--recipe", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True, help="folder with train.jsonl (and test.jsonl)")
    parser.add_argument("--model", required=True, help="model folder or Hugging Face id")
    parser.add_argument("--output", type=Path, required=True, help="the run directory")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    args = parser.parse_args(argv)
    try:
        train(load_recipe(args.recipe), args.dataset, args.model, args.output, args.resume)
    except TrainingError as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
