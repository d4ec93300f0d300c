"""`taustack plan`: which (TP, PP, DP) layouts of a model fit the GPUs, from its config.json alone.

Weights and KV-cache sizes follow from the architecture: parameters from the layer shapes (dense or MoE),
KV bytes per token = 2 (K and V) x layers x KV heads x head dim x bytes. A layout is valid when TP divides the
attention heads, TP divides the KV heads or is a multiple of them, PP is at most the layers and
TP x PP x DP is the GPU count; it fits when a GPU holds its share of the weights and room for KV cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from taustack.errors import SpecError
from taustack.fileio import read_json

GIB = 1024**3
DTYPE_BYTES = {"bfloat16": 2.0, "float16": 2.0, "float32": 4.0, "float8": 1.0}
QUANTIZATION_BYTES = {None: None, "fp8": 1.0, "awq": 0.5, "gptq": 0.5, "int4": 0.5, "int8": 1.0}
REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


@dataclass(frozen=True)
class ModelShape:
    name: str
    layers: int
    heads: int
    kv_heads: int
    hidden: int
    head_dim: int
    intermediate: int
    vocab: int
    dtype_bytes: float
    tied_embeddings: bool
    experts: int = 0
    expert_intermediate: int = 0
    qkv_bias: bool = False

    @property
    def parameters(self) -> int:
        attention = self.hidden * self.head_dim * (2 * self.heads + 2 * self.kv_heads)
        if self.qkv_bias:
            attention += self.head_dim * (self.heads + 2 * self.kv_heads)
        if self.experts:
            mlp = self.experts * 3 * self.hidden * self.expert_intermediate + self.hidden * self.experts
        else:
            mlp = 3 * self.hidden * self.intermediate
        per_layer = attention + mlp + 2 * self.hidden
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * per_layer + embeddings + self.hidden

    def weight_bytes(self, bytes_per_param: float | None = None) -> float:
        return self.parameters * (bytes_per_param or self.dtype_bytes)

    @property
    def kv_bytes_per_token(self) -> int:
        """K and V of every layer, in the KV cache's dtype (the model's 16-bit dtype by default)."""
        return int(2 * self.layers * self.kv_heads * self.head_dim * min(self.dtype_bytes, 2.0))


def shape_from_config(name: str, config: dict[str, Any]) -> ModelShape:
    """A ModelShape from config.json's fields; a missing field is an error naming it."""
    for key in REQUIRED:
        if not isinstance(config.get(key), int):
            raise SpecError(f"config.json of {name} lacks {key}")
    heads = config["num_attention_heads"]
    experts = int(config.get("num_local_experts") or config.get("num_experts") or 0)
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    if experts and not (config.get("moe_intermediate_size") or config.get("intermediate_size")):
        raise SpecError(f"config.json of {name} lacks moe_intermediate_size")
    if not experts and not config.get("intermediate_size"):
        raise SpecError(f"config.json of {name} lacks intermediate_size")
    return ModelShape(
        name=name,
        layers=config["num_hidden_layers"],
        heads=heads,
        kv_heads=int(config.get("num_key_value_heads") or heads),
        hidden=config["hidden_size"],
        head_dim=int(config.get("head_dim") or config["hidden_size"] // heads),
        intermediate=int(config.get("intermediate_size") or 0),
        vocab=config["vocab_size"],
        dtype_bytes=DTYPE_BYTES.get(dtype, 2.0),
        tied_embeddings=bool(config.get("tie_word_embeddings", False)),
        experts=experts,
        expert_intermediate=int(config.get("moe_intermediate_size") or config.get("intermediate_size") or 0),
        qkv_bias=config.get("model_type") == "qwen2",
    )


def find_config(model: str) -> Path:
    """config.json from a file, a model folder, or the local Hugging Face cache (never downloaded)."""
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if (path / "config.json").is_file():
        return path / "config.json"
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
    snapshots = hub.expanduser() / f"models--{model.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/config.json"), key=lambda p: p.stat().st_mtime) if snapshots.is_dir() else []
    if found:
        return found[-1]
    raise SpecError(f"no config.json for {model}: give a path to it or its folder, or download the model "
                    "into the Hugging Face cache first")


def load_shape(model: str) -> ModelShape:
    path = find_config(model)
    config = read_json(path, "config.json", SpecError)
    if not isinstance(config, dict):
        raise SpecError(f"{path}: not a config.json (no mapping)")
    name = model if not Path(model).exists() else str(config.get("_name_or_path") or path.parent.name)
    return shape_from_config(name, config)


@dataclass(frozen=True)
class Layout:
    tp: int
    pp: int
    dp: int
    weights_per_gpu: float
    kv_per_gpu: float
    tokens_per_replica: int
    sequences_per_replica: int
    min_sequences: int = 1

    @property
    def fits(self) -> bool:
        """The weights fit, with KV room for at least `min_sequences` full-context sequences per replica."""
        return self.sequences_per_replica >= self.min_sequences


def layout_problem(shape: ModelShape, tp: int, pp: int) -> str | None:
    """Why a (TP, PP) cannot work for this model, in words; None when it can."""
    if shape.heads % tp:
        return f"TP={tp} does not divide the {shape.heads} attention heads of {shape.name}"
    if shape.kv_heads % tp and tp % shape.kv_heads:
        return f"TP={tp} neither divides nor is a multiple of the {shape.kv_heads} KV heads of {shape.name}"
    if pp > shape.layers:
        return f"PP={pp} is more than the {shape.layers} layers of {shape.name}"
    return None


def plan(
    shape: ModelShape, gpus: int, gpu_mem_gib: float, context: int, utilization: float = 0.9,
    overhead_gib: float = 1.5, bytes_per_param: float | None = None, gpus_per_node: int = 8,
    min_sequences: int = 1,
) -> list[Layout]:
    """Every valid layout using all `gpus`, best first: fitting, TP inside a node, fewest GPUs per replica."""
    if gpus < 1:
        raise SpecError("gpus: must be at least 1")
    layouts = []
    for tp in range(1, gpus + 1):
        for pp in range(1, gpus // tp + 1):
            if gpus % (tp * pp) or layout_problem(shape, tp, pp):
                continue
            weights = shape.weight_bytes(bytes_per_param) / (tp * pp)
            free = gpu_mem_gib * GIB * utilization - weights - overhead_gib * GIB
            kv_share = (max(shape.kv_heads // tp, 1) / shape.kv_heads) / pp
            kv_per_gpu_token = shape.kv_bytes_per_token * kv_share
            tokens = int(max(free, 0) / kv_per_gpu_token) if kv_per_gpu_token else 0
            layouts.append(Layout(tp, pp, gpus // (tp * pp), weights, max(free, 0), tokens, tokens // context,
                                  min_sequences))
    layouts.sort(key=lambda x: (not x.fits, x.tp > gpus_per_node, x.tp * x.pp, x.pp, -x.sequences_per_replica))
    return layouts


def env_lines(shape: ModelShape, layout: Layout, context: int) -> list[str]:
    return [f"VLLM_MODEL={shape.name}", f"VLLM_TP={layout.tp}", f"VLLM_PP={layout.pp}", f"VLLM_DP={layout.dp}",
            f"VLLM_GPUS={layout.tp * layout.pp * layout.dp}", f"VLLM_MAX_MODEL_LEN={context}"]


def multinode_layout(shape: ModelShape, nodes: int, gpus_per_node: int) -> tuple[int, int]:
    """(TP, PP) for one model across `nodes` hosts of `gpus_per_node` GPUs, every GPU used: TP as large as the
    model's heads allow up to a host's GPUs (inside a host), PP across hosts and what TP leaves of each host."""
    tp = gpus_per_node
    while tp > 1 and (gpus_per_node % tp or layout_problem(shape, tp, 1)):
        tp -= 1
    return tp, nodes * gpus_per_node // tp


def multinode_sections(shape: ModelShape, nodes: int, gpus_per_node: int, context: int) -> list[str]:
    """The stack file's hosts: and vllm: sections for one model across `nodes` hosts with vLLM's own multi-node (a
    head and --headless followers), as lines to paste and edit."""
    names = [f"gpu-{chr(ord('a') + index)}" for index in range(nodes)]
    hosts = {name: {"docker": f"ssh://USER@10.0.0.{index + 1}", "address": f"10.0.0.{index + 1}",
                    "gpus": gpus_per_node, **({"front": True} if index == 0 else {})}
             for index, name in enumerate(names)}
    tp, pp = multinode_layout(shape, nodes, gpus_per_node)
    vllm = {"model": shape.name, "gpus": gpus_per_node, "tensor_parallel": tp, "pipeline_parallel": pp,
            "nodes": nodes, "hosts": names, "max_model_len": context, "bind": "10.0.0.1"}
    lines = [f"# {shape.name} across {nodes} hosts of {gpus_per_node} GPUs: TP={tp} inside each host, PP={pp} across",
             "# (vLLM's own multi-node: a head and --headless followers); put your hosts' ssh URLs and private",
             "# addresses in, then: taustack up --stack THIS_FILE"]
    problem = layout_problem(shape, tp, pp)
    if problem:
        lines.append(f"# this layout will not load: {problem}")
    return lines + yaml.safe_dump({"hosts": hosts, "vllm": vllm}, sort_keys=False).splitlines()
