"""The fake vLLM engine's bookkeeping: scheduling, the prefix cache and the counters behind /metrics.

At most ``max_num_seqs`` requests run at once; the others wait (as do all new ones while paused).  The prefix
cache hashes full 16-token blocks in a chain like vLLM's, so repeated prompt prefixes really count as hits.
:meth:`Engine.metrics` renders everything in vLLM's Prometheus names and labels.  Stdlib only.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

BLOCK = 16
MAX_BLOCKS = 200_000  # cached block hashes kept before the cache is dropped wholesale
REASONS = ("stop", "length", "abort")
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
                40.0, 80.0, 160.0, 640.0, 2560.0)
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
               480.0, 960.0, 1920.0, 7680.0)


def num(v: float) -> str:
    """A sample value the way prometheus_client writes it (1.0, 0.25, +Inf)."""
    return "+Inf" if v == float("inf") else repr(float(v))


@dataclass
class Histogram:
    """A cumulative Prometheus histogram with fixed upper bounds."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        """One counter per bound plus +Inf."""
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, v: float) -> None:
        """Count ``v`` in every bucket whose bound is >= v."""
        self.total += v
        for i, b in enumerate((*self.bounds, float("inf"))):
            if v <= b:
                self.counts[i] += 1

    def lines(self, name: str, labels: str) -> list[str]:
        """_bucket, _count and _sum samples, in prometheus_client's order."""
        out = [f'{name}_bucket{{{labels},le="{num(b)}"}} {num(c)}'
               for b, c in zip((*self.bounds, float("inf")), self.counts, strict=True)]
        return [*out, f"{name}_count{{{labels}}} {num(self.counts[-1])}", f"{name}_sum{{{labels}}} {num(self.total)}"]


@dataclass
class Request:
    """One admitted request: its arrival time, first-token time, generated tokens and finish reason."""

    t0: float
    first: float | None = None
    generated: int = 0
    reason: str = "abort"  # until the handler says it finished normally


class Engine:
    """Thread-safe scheduler state and counters of one fake engine (data-parallel rank 0)."""

    def __init__(self, max_num_seqs: int, prefix_caching: bool) -> None:
        self.max_num_seqs, self.prefix_caching = max(1, max_num_seqs), prefix_caching
        self.cond = threading.Condition()
        self.running = self.waiting = 0
        self.paused = False
        self.prompt_tokens = self.generation_tokens = self.queries = self.hits = 0
        self.success = dict.fromkeys(REASONS, 0)
        self.ttft, self.e2e = Histogram(TTFT_BUCKETS), Histogram(E2E_BUCKETS)
        self.blocks: set[int] = set()

    def _prefix_hits(self, ids: list[int]) -> int:
        """Cached tokens of ``ids`` (whole leading blocks, never the last token); then cache its full blocks."""
        h, hits, hitting, limit = 0, 0, True, (len(ids) - 1) // BLOCK
        if len(self.blocks) > MAX_BLOCKS:
            self.blocks.clear()
        for i in range(len(ids) // BLOCK):
            h = hash((h, tuple(ids[i * BLOCK:(i + 1) * BLOCK])))
            hitting = hitting and i < limit and h in self.blocks
            hits += BLOCK if hitting else 0
            self.blocks.add(h)
        return hits

    @contextmanager
    def request(self, ids: list[int]) -> Iterator[Request]:
        """Queue, admit (prefill ``ids``) and finally retire one request, counting all of it."""
        req = Request(time.monotonic())
        with self.cond:
            self.waiting += 1
            try:
                self.cond.wait_for(lambda: not self.paused and self.running < self.max_num_seqs)
            finally:
                self.waiting -= 1
            self.running += 1
            self.prompt_tokens += len(ids)
            if self.prefix_caching:
                self.queries += len(ids)
                self.hits += self._prefix_hits(ids)
        try:
            yield req
        finally:
            with self.cond:
                self.running -= 1
                self.success[req.reason] = self.success.get(req.reason, 0) + 1
                self.e2e.observe(time.monotonic() - req.t0)
                self.cond.notify_all()

    def token(self, req: Request) -> None:
        """Count one generated token of ``req`` (the first one also times the TTFT)."""
        with self.cond:
            self.generation_tokens += 1
            req.generated += 1
            if req.first is None:
                req.first = time.monotonic()
                self.ttft.observe(req.first - req.t0)

    def pause(self, paused: bool) -> None:
        """Stop (or restart) admitting requests; running ones finish."""
        with self.cond:
            self.paused = paused
            self.cond.notify_all()

    def reset_prefix_cache(self) -> None:
        """Forget every cached block."""
        with self.cond:
            self.blocks.clear()

    def metrics(self, model_name: str) -> str:
        """The /metrics page: vLLM's metric names, labelled model_name=<first served name>, engine="0"."""
        esc = model_name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        labels = f'model_name="{esc}",engine="0"'
        out: list[str] = []

        def family(name: str, kind: str, doc: str, samples: list[str]) -> None:
            out.extend([f"# HELP {name} {doc}", f"# TYPE {name} {kind}", *samples])

        def one(name: str, kind: str, doc: str, value: float) -> None:
            family(name, kind, doc, [f"{name}{{{labels}}} {num(value)}"])

        with self.cond:
            one("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", self.running)
            one("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", self.waiting)
            one("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.",
                min(1.0, self.running / self.max_num_seqs))
            one("vllm:prefix_cache_queries_total", "counter",
                "Prefix cache queries, in terms of number of queried tokens.", self.queries)
            one("vllm:prefix_cache_hits_total", "counter", "Prefix cache hits, in terms of number of cached tokens.",
                self.hits)
            one("vllm:num_preemptions_total", "counter", "Cumulative number of preemption from the engine.", 0)
            one("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", self.prompt_tokens)
            one("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
                self.generation_tokens)
            family("vllm:request_success_total", "counter", "Count of successfully processed requests.",
                   [f'vllm:request_success_total{{{labels},finished_reason="{r}"}} {num(c)}'
                    for r, c in self.success.items()])
            family("vllm:time_to_first_token_seconds", "histogram", "Histogram of time to first token in seconds.",
                   self.ttft.lines("vllm:time_to_first_token_seconds", labels))
            family("vllm:e2e_request_latency_seconds", "histogram", "Histogram of e2e request latency in seconds.",
                   self.e2e.lines("vllm:e2e_request_latency_seconds", labels))
        return "\n".join(out) + "\n"
