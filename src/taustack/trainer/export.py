"""Inside the trainer image: merge a LoRA adapter into its base model (or take a fully trained one), write HF files,
a GGUF and a Modelfile.

`python -m taustack.trainer.export --adapter RUN/adapter --model BASE --out RUN/export [--gguf]`, or
`--trained RUN/model` for a full-parameter run; `--half` writes float16 safetensors and an F16 GGUF.
Llama models with a GPT-2 style byte-level BPE tokenizer go through taustack's own GGUF writer; other models
through llama.cpp's convert_hf_to_gguf.py when the image has it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from taustack.fileio import write_atomic
from taustack.gguf.writer import write_gguf
from taustack.training.recipe import TrainingError

CONVERTER_PLACES = ("/opt/llama.cpp/convert_hf_to_gguf.py", "/usr/local/bin/convert_hf_to_gguf.py")


def copy_trained(trained: Path, hf_out: Path, half: bool) -> None:
    """A full-parameter run's model as it is (float16 with `half`), with its tokenizer and chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(trained), dtype=torch.float32)
    (model.half() if half else model).save_pretrained(str(hf_out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(trained)).save_pretrained(str(hf_out))
    print(f"[taustack] model: {hf_out}", flush=True)


def merge(adapter: Path, model_path: str, hf_out: Path, half: bool = False) -> None:
    """peft merge_and_unload, saved as safetensors with the adapter's tokenizer (and its chat template)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    (merged.half() if half else merged).save_pretrained(str(hf_out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(adapter)).save_pretrained(str(hf_out))
    print(f"[taustack] merged model: {hf_out}", flush=True)


def own_writer_fits(config: dict[str, Any], tokenizer_json: dict[str, Any]) -> bool:
    """taustack's writer covers plain Llama (no RoPE scaling) with a GPT-2 style byte-level BPE tokenizer."""
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    pre = tokenizer_json.get("pre_tokenizer") or {}
    return (config.get("model_type") == "llama" and tokenizer_json.get("model", {}).get("type") == "BPE"
            and pre.get("type") == "ByteLevel" and pre.get("use_regex", True)
            and rope.get("rope_type", "default") == "default")


def gguf_config(config: dict[str, Any]) -> dict[str, Any]:
    """The keys write_gguf reads, from a transformers config (rope_theta moved into rope_parameters in v5)."""
    rope = config.get("rope_parameters") or {}
    eos = config.get("eos_token_id")
    eos = eos[0] if isinstance(eos, list) else eos
    return {
        **config,
        "head_dim": config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"],
        "rope_theta": config.get("rope_theta") or rope.get("rope_theta", 10000.0),
        "eos_token_id": eos,
        "bos_token_id": config.get("bos_token_id") if config.get("bos_token_id") is not None else eos,
        "pad_token_id": config.get("pad_token_id") if config.get("pad_token_id") is not None else eos,
    }


def write_own_gguf(hf_dir: Path, gguf_path: Path, config: dict[str, Any], tokenizer_json: dict[str, Any],
                   half: bool = False) -> None:
    from safetensors.numpy import load_file

    weights: dict[str, Any] = {}
    for shard in sorted(hf_dir.glob("*.safetensors")):
        weights.update(load_file(str(shard)))
    if "lm_head.weight" not in weights:  # tied embeddings
        weights["lm_head.weight"] = weights["model.embed_tokens.weight"]
    template = json.loads((hf_dir / "tokenizer_config.json").read_text()).get("chat_template")
    template_file = hf_dir / "chat_template.jinja"
    if not template and template_file.is_file():
        template = template_file.read_text(encoding="utf-8")
    if not template:
        raise TrainingError(f"{hf_dir}: the tokenizer has no chat template to put in the GGUF")
    write_gguf(gguf_path, gguf_config(config), weights, tokenizer_json, template, half)


def find_converter() -> str | None:
    named = os.environ.get("TAUSTACK_CONVERT_HF_TO_GGUF") or shutil.which("convert_hf_to_gguf.py")
    return named or next((place for place in CONVERTER_PLACES if Path(place).is_file()), None)


def to_gguf(hf_dir: Path, gguf_path: Path, writer: str = "auto", half: bool = False) -> None:
    """GGUF by taustack's writer (auto: when it fits the model; F16 matrices with `half`) or by llama.cpp's
    converter (f16)."""
    config = json.loads((hf_dir / "config.json").read_text())
    tokenizer_json = json.loads((hf_dir / "tokenizer.json").read_text()) if (hf_dir / "tokenizer.json").is_file() \
        else {}
    fits = own_writer_fits(config, tokenizer_json)
    if writer == "taustack" and not fits:
        raise TrainingError(f"--gguf-writer taustack: model_type {config.get('model_type')!r} is not a Llama with a "
                            "byte-level BPE tokenizer; use --gguf-writer llama.cpp")
    if writer == "taustack" or (writer == "auto" and fits):
        write_own_gguf(hf_dir, gguf_path, config, tokenizer_json, half)
    else:
        converter = find_converter()
        if converter is None:
            raise TrainingError(
                f"GGUF for model_type {config.get('model_type')!r} needs llama.cpp's convert_hf_to_gguf.py, which "
                f"this trainer image lacks ({CONVERTER_PLACES[0]}, or TAUSTACK_CONVERT_HF_TO_GGUF): rebuild it "
                f"from docker/trainer.Dockerfile, or convert {hf_dir} yourself")
        print(f"[taustack] converting with {converter}", flush=True)
        subprocess.run([sys.executable, "-m", "taustack.trainer.hf_to_gguf", converter, str(hf_dir),
                        str(gguf_path), "f16"], check=True)
    print(f"[taustack] GGUF: {gguf_path}", flush=True)


def modelfile(gguf_name: str, eos_token: str | None) -> str:
    """An Ollama Modelfile next to the GGUF."""
    lines = [
        f"FROM ./{gguf_name}",
        "# TEMPLATE: the GGUF carries the model's Jinja chat template (tokenizer.chat_template); Ollama maps it to",
        "# a Go template only for template families it knows. For tool calls with another template, write it here:",
        '# TEMPLATE """{{- range .Messages }}...{{ end }}"""',
    ]
    if eos_token:
        lines.append(f'PARAMETER stop "{eos_token}"')
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taustack.trainer.export", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--adapter", type=Path, help="a LoRA run's adapter (merged into --model)")
    source.add_argument("--trained", type=Path, help="a full-parameter run's model folder")
    parser.add_argument("--model", help="the base model's folder or Hugging Face id (with --adapter)")
    parser.add_argument("--half", action="store_true", help="float16 safetensors and an F16 GGUF (half the size)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--gguf", action="store_true", help="also write model.gguf and an Ollama Modelfile")
    parser.add_argument("--gguf-writer", choices=["auto", "taustack", "llama.cpp"], default="auto",
                        help="taustack's writer (Llama, byte-level BPE) or llama.cpp's converter; auto: the first "
                             "that fits")
    args = parser.parse_args(argv)
    try:
        hf_out = args.out / "hf"
        if args.trained is not None:
            copy_trained(args.trained, hf_out, args.half)
        elif args.model is None:
            raise TrainingError("--adapter needs --model (the base model it adapts)")
        else:
            merge(args.adapter, args.model, hf_out, args.half)
        if args.gguf:
            to_gguf(hf_out, args.out / "model.gguf", args.gguf_writer, args.half)
            eos = json.loads((hf_out / "tokenizer_config.json").read_text()).get("eos_token")
            write_atomic(args.out / "Modelfile", modelfile("model.gguf", eos if isinstance(eos, str) else None))
    except (TrainingError, subprocess.CalledProcessError) as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
