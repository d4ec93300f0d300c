"""Command line of the fake vLLM: the flags ``vllm serve`` takes (unknown ones are ignored, not rejected).

Stdlib only; see README.md for the flags that change the fake's behaviour.
"""
from __future__ import annotations

import argparse
import json
import os

VERSION = "0.31.0"
DEFAULT_MODEL = "Qwen/Qwen3-0.6B"


def human_int(value: str) -> int:
    """An integer flag written the way vLLM accepts it: 32768, 32k (x1000), 32K (x1024), 1m, 1M, 1g, 1G."""
    v = value.strip()
    mult = {"k": 10**3, "m": 10**6, "g": 10**9, "K": 2**10, "M": 2**20, "G": 2**30}.get(v[-1:], 1)
    return int(float(v[:-1] if mult > 1 else v) * mult)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse ``vllm serve`` flags (positional MODEL first, or --model); return them and the ignored extras."""
    p = argparse.ArgumentParser(prog="vllm serve", allow_abbrev=False, description="fake vLLM OpenAI server")
    p.add_argument("--model")
    p.add_argument("--host")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--served-model-name", nargs="+")
    p.add_argument("-tp", "--tensor-parallel-size", type=int, default=1)
    p.add_argument("-pp", "--pipeline-parallel-size", type=int, default=1)
    p.add_argument("-dp", "--data-parallel-size", type=int, default=1)
    p.add_argument("--max-model-len", type=human_int, default=32768)
    p.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    p.add_argument("--max-num-seqs", type=int, default=256)
    p.add_argument("--enable-auto-tool-choice", action="store_true")
    p.add_argument("--tool-call-parser")
    p.add_argument("--reasoning-parser")
    p.add_argument("--enable-prefix-caching", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--api-key", default=os.environ.get("VLLM_API_KEY") or None)
    p.add_argument("--enable-lora", action="store_true")
    p.add_argument("--lora-modules", nargs="+", default=[])
    p.add_argument("--chat-template")
    p.add_argument("-q", "--quantization")
    p.add_argument("--distributed-executor-backend")
    model = argv[0] if argv and not argv[0].startswith("-") else None
    args, extra = p.parse_known_args(argv[1:] if model else argv)
    args.model = model or args.model or DEFAULT_MODEL
    args.served_model_name = args.served_model_name or [args.model]
    if args.enable_auto_tool_choice and not args.tool_call_parser:
        p.error("When `--enable-auto-tool-choice` is set, `--tool-call-parser` must be set")
    return args, extra


def lora_modules(specs: list[str]) -> dict[str, str]:
    """--lora-modules entries ("name=path" or {"name": ..., "path": ...} JSON) as {name: path}."""
    out = {}
    for spec in specs:
        if spec.lstrip().startswith("{"):
            obj = json.loads(spec)
            out[str(obj["name"])] = str(obj["path"])
        else:
            name, _, path = spec.partition("=")
            out[name] = path
    return out
