"""The gateway's added latency over a direct engine call, side by side, and its requests/s under concurrency.

Alternates the same non-streamed chat request between the engine (direct) and the gateway so machine noise
hits both alike; then runs N concurrent clients against each for a fixed time. Usage, with a stack whose
gateway routes MODEL to an engine at DIRECT (see README, "The gateway"):

    .venv/bin/python bench/gateway_overhead.py --direct http://127.0.0.1:11435 --direct-model qwen2.5:0.5b \\
        --gateway http://127.0.0.1:4000 --model qwen --key "$(.venv/bin/taustack key)"
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import httpx

from taustack.loadgen.report import percentile


def call(client: httpx.Client, url: str, model: str, headers: dict[str, str]) -> float:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    started = time.perf_counter()
    client.post(f"{url}/v1/chat/completions", json=body, headers=headers).raise_for_status()
    return time.perf_counter() - started


def throughput(url: str, model: str, headers: dict[str, str], clients: int, seconds: float) -> tuple[float, int]:
    done, errors = [0], [0]
    stop = time.monotonic() + seconds

    def worker() -> None:
        with httpx.Client(timeout=30, trust_env=False) as client:
            while time.monotonic() < stop:
                try:
                    call(client, url, model, headers)
                    done[0] += 1
                except httpx.HTTPError:
                    errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0] / seconds, errors[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--direct", required=True)
    parser.add_argument("--direct-model", required=True)
    parser.add_argument("--gateway", default="http://127.0.0.1:4000")
    parser.add_argument("--model", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    gateway_headers = {"Authorization": f"Bearer {args.key}"}
    latencies: dict[str, list[float]] = {"direct": [], "gateway": []}
    with httpx.Client(timeout=30, trust_env=False) as client:
        for _ in range(10):  # warm both paths
            call(client, args.direct, args.direct_model, {})
            call(client, args.gateway, args.model, gateway_headers)
        for _ in range(args.requests):
            latencies["direct"].append(call(client, args.direct, args.direct_model, {}))
            latencies["gateway"].append(call(client, args.gateway, args.model, gateway_headers))
    for name, values in latencies.items():
        p50, p95 = statistics.median(values) * 1000, percentile(values, 0.95) * 1000
        print(f"{name:8s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
    added50 = statistics.median(latencies["gateway"]) - statistics.median(latencies["direct"])
    added95 = percentile(latencies["gateway"], 0.95) - percentile(latencies["direct"], 0.95)
    print(f"gateway adds p50 {added50 * 1000:.1f} ms, p95 {added95 * 1000:.1f} ms ({args.requests} requests each, "
          "alternating, 1 client)")
    for name, url, model, headers in (("direct", args.direct, args.direct_model, {}),
                                      ("gateway", args.gateway, args.model, gateway_headers)):
        rate, errors = throughput(url, model, headers, args.clients, args.seconds)
        print(f"{name:8s} {rate:7.1f} req/s at {args.clients} concurrent clients ({errors} errors)")


if __name__ == "__main__":
    main()
