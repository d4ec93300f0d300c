"""Tokens/s and time to first token through the nginx balancer against one replica directly, side by side.

Runs the same streamed chat request alternately against both URLs (so machine noise hits both alike) and prints
medians and the ratio. Usage, with the demo stack up (`make demo`):

    .venv/bin/python bench/nginx_vs_direct.py --balancer http://127.0.0.1:8080 --direct http://127.0.0.1:8081
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import httpx


def streamed(client: httpx.Client, url: str, model: str, max_tokens: int) -> tuple[float, float]:
    """(time to first token, tokens/s after it) for one streamed chat completion."""
    body = {"model": model, "messages": [{"role": "user", "content": "Tell me about my order."}],
            "max_tokens": max_tokens, "stream": True}
    started = time.perf_counter()
    first, chunks = 0.0, 0
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                first = first or time.perf_counter() - started
                chunks += 1
    total = time.perf_counter() - started
    return first, (chunks - 1) / (total - first) if total > first and chunks > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--balancer", default="http://127.0.0.1:8080")
    parser.add_argument("--direct", default="http://127.0.0.1:8081")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"balancer": [], "direct": []}
    with httpx.Client(timeout=120, trust_env=False) as client:
        for url in (args.balancer, args.direct):
            streamed(client, url, args.model, 8)  # warm both paths
        for _ in range(args.requests):
            for name, url in (("balancer", args.balancer), ("direct", args.direct)):
                results[name].append(streamed(client, url, args.model, args.max_tokens))
    summary = {}
    for name, rows in results.items():
        summary[name] = {"ttft_ms_p50": statistics.median(r[0] for r in rows) * 1000,
                         "tokens_per_s_p50": statistics.median(r[1] for r in rows)}
        print(f"{name:9s} first token p50 {summary[name]['ttft_ms_p50']:7.1f} ms   "
              f"tokens/s p50 {summary[name]['tokens_per_s_p50']:8.0f}")
    ratio = summary["balancer"]["tokens_per_s_p50"] / summary["direct"]["tokens_per_s_p50"]
    print(f"balancer/direct tokens/s ratio: {ratio:.3f} ({args.requests} streamed requests each, "
          f"max_tokens {args.max_tokens}, alternating)")


if __name__ == "__main__":
    main()
