"""Print the planner's layouts: a table (or JSON) and the .env lines for the best one."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click
from rich.console import Console
from rich.table import Table

from taustack.errors import TaustackError
from taustack.planner.layout import GIB, QUANTIZATION_BYTES, env_lines, load_shape, plan


def print_plan(model: str, gpus: int, gpu_mem: float, context: int, utilization: float,
               quantization: str | None, gpus_per_node: int, min_sequences: int, as_json: bool) -> None:
    shape = load_shape(model)
    layouts = plan(shape, gpus, gpu_mem, context, utilization, bytes_per_param=QUANTIZATION_BYTES[quantization],
                   gpus_per_node=gpus_per_node, min_sequences=min_sequences)
    if not layouts:
        raise TaustackError(f"no valid layout of {shape.name} on {gpus} GPUs: no TP/PP split of its "
                            f"{shape.heads} heads and {shape.layers} layers uses all of them")
    weights = shape.weight_bytes(QUANTIZATION_BYTES[quantization])
    if as_json:
        click.echo(json.dumps({"model": shape.name, "parameters": shape.parameters, "weight_bytes": weights,
                               "kv_bytes_per_token": shape.kv_bytes_per_token,
                               "layouts": [{**asdict(layout), "fits": layout.fits} for layout in layouts]}, indent=2))
        return
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
    console.print(f"{shape.name}: {shape.parameters / 1e9:.2f}B parameters, weights {weights / GIB:.1f} GiB, "
                  f"KV cache {shape.kv_bytes_per_token / 1024:.0f} KiB per token; {gpus} x {gpu_mem:g} GiB, "
                  f"utilization {utilization}, context {context}; a layout fits with room for {min_sequences} "
                  "sequences per replica")
    table = Table(title_justify="left")
    for column in ("TP", "PP", "DP", "weights/GPU", "KV room/GPU", "tokens/replica", f"seqs of {context}/replica",
                   "seqs total", "fits"):
        table.add_column(column, justify="right")
    for layout in layouts:
        table.add_row(str(layout.tp), str(layout.pp), str(layout.dp), f"{layout.weights_per_gpu / GIB:.1f} GiB",
                      f"{layout.kv_per_gpu / GIB:.1f} GiB", f"{layout.tokens_per_replica:,}",
                      str(layout.sequences_per_replica), str(layout.sequences_per_replica * layout.dp),
                      "yes" if layout.fits else "no")
    console.print(table)
    best = layouts[0]
    if not best.fits:
        raise TaustackError(f"no layout of {shape.name} fits {gpus} x {gpu_mem:g} GiB with {min_sequences} "
                            f"sequences of {context} tokens: add GPUs, quantize, or shorten the context")
    console.print("\n# .env for `docker compose --profile vllm-tp up` (or -pp / -dp):")
    console.print("\n".join(env_lines(shape, best, context)), markup=False, highlight=False)
