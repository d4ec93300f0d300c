"""The vLLM engine: replicas of TP x PP x DP GPUs behind nginx, whose unprotected paths stay inside."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from taustack.engines.base import (
    Replica,
    ReplicaGroup,
    ReplicaHealth,
    Routes,
    describe_http_error,
    gauge_sum,
    place_group,
    replica_service,
)
from taustack.engines.cpus import format_core_list
from taustack.render.services import ComposeService, Ulimit
from taustack.stackfile.vllm import VllmSpec
from taustack.workspace import Workspace

HF_CACHE = "/root/.cache/huggingface"


def cpu_environment(spec: VllmSpec, replica: Replica) -> dict[str, str]:
    """What vLLM needs on the CPU: each rank bound to its cores, KV-cache space per rank, and a compile cache per
    replica in the HF cache (torch.compile takes most of a CPU start; a second start of the same layout skips it)."""
    return {"VLLM_CPU_OMP_THREADS_BIND": "|".join(format_core_list(rank) for rank in replica.cores),
            "VLLM_CPU_KVCACHE_SPACE": str(spec.kv_cache_gib),
            "VLLM_CACHE_ROOT": f"{HF_CACHE}/taustack-vllm-cache/{replica.service}"}


class VllmEngine:
    name = "vllm"
    routes = Routes(
        inference_regex=r"^/v1/(chat/completions|completions|embeddings)$",
        # only the OpenAI API and health leave the compose network: vLLM's /metrics, /invocations, /pause,
        # /tokenize, /sleep ... are unauthenticated even with --api-key
        refused_regex=r"^/(?!v1/|health$|version$)",
        refused_hint=json.dumps({"error": "not exposed by the balancer: only /v1/*, /health and /version are"}),
        health_path="/health",
        metrics_path="/metrics",
    )
    pulls_models = False

    def build_group(self, spec: VllmSpec, devices: Sequence[tuple[str, ...]]) -> ReplicaGroup:
        """Each replica on TP x PP x DP of the devices (validation and resolve_stack checked the layout)."""
        group = place_group(self.name, spec, spec.port, self.routes, self.served_models(spec), devices)
        return replace(group, key_env=spec.api_key_env, tool_check=spec.tool_check if spec.tool_call_parser else "off",
                       tool_parser=spec.tool_call_parser or "")

    def model_key(self, name: str) -> str:
        return name

    def served_models(self, spec: VllmSpec) -> tuple[str, ...]:
        """The served name and every LoRA adapter's (vLLM lists them in /v1/models; clients ask for them by name)."""
        return (spec.served_name(), *spec.lora_modules)

    def litellm_params(self, model: str, group: ReplicaGroup) -> dict[str, Any]:
        """LiteLLM's `hosted_vllm/` provider on the OpenAI API (/v1)."""
        return {"model": f"hosted_vllm/{model}", "api_base": f"http://{group.balancer_service}:{group.port}/v1"}

    def warm(self, replica: Replica, model: str) -> bool:
        """Nothing to warm: vLLM loads its model at start."""
        return False

    def preflight(self, spec: VllmSpec, workspace: Workspace) -> None:
        """The layout was checked when the stack resolved; the weights download inside the container."""

    def command(self, spec: VllmSpec, replica: Replica) -> list[str]:
        """`vllm serve` arguments (the image's entrypoint is `vllm serve`: the model comes first)."""
        args = [spec.model, "--served-model-name", spec.served_name(), "--host", "0.0.0.0",
                "--port", str(replica.port), "--tensor-parallel-size", str(spec.tensor_parallel),
                "--pipeline-parallel-size", str(spec.pipeline_parallel),
                "--data-parallel-size", str(spec.data_parallel),
                "--gpu-memory-utilization", str(spec.gpu_memory_utilization)]
        optional = {"--max-model-len": spec.max_model_len, "--max-num-seqs": spec.max_num_seqs,
                    "--dtype": spec.dtype, "--quantization": spec.quantization, "--chat-template": spec.chat_template,
                    "--reasoning-parser": spec.reasoning_parser}
        for flag, value in optional.items():
            if value is not None:
                args += [flag, str(value)]
        if spec.tool_call_parser:
            args += ["--enable-auto-tool-choice", "--tool-call-parser", spec.tool_call_parser]
        if spec.enable_prefix_caching:
            args.append("--enable-prefix-caching")
        if spec.enable_lora or spec.lora_modules:
            args.append("--enable-lora")
        if spec.lora_modules:
            args += ["--lora-modules", *(f"{name}={path}" for name, path in spec.lora_modules.items())]
        return [*args, *spec.extra_args]

    def services(self, spec: VllmSpec, group: ReplicaGroup, workspace: Workspace) -> list[ComposeService]:
        extra = {name: value.replace("$", "$$") for name, value in spec.env.items()}  # as given, not interpolated
        environment = {"HF_TOKEN": "${HF_TOKEN:-}", **extra}
        if spec.api_key_env:
            environment["VLLM_API_KEY"] = f"${{{spec.api_key_env}:?set {spec.api_key_env} in .env}}"
        cache = spec.hf_cache if "/" not in spec.hf_cache else workspace.from_root(Path(spec.hf_cache).expanduser())
        services = []
        for replica in group.replicas:
            health = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{replica.port}/health')"
            # NCCL's (GPUs only)
            gpu_limits = spec.unlimited_memlock and not spec.on_cpu()
            ulimits = (Ulimit("memlock", -1, -1), Ulimit("stack", 67108864)) if gpu_limits else ()
            services.append(replica_service(
                group, replica, str(spec.image), ("CMD", "python3", "-c", health), "10s",
                start_period="900s",  # a large model downloads and loads first
                command=tuple(self.command(spec, replica)),
                environment={**environment, **cpu_environment(spec, replica)} if replica.cores else environment,
                volumes=(f"{cache}:{HF_CACHE}",), ipc="host", ulimits=ulimits,
                cpuset=format_core_list(core for rank in replica.cores for core in rank),
            ))
        return services

    def volumes(self, spec: VllmSpec) -> tuple[str, ...]:
        return () if "/" in spec.hf_cache else (spec.hf_cache,)

    async def probe(self, client: httpx.AsyncClient, replica: Replica, deep: bool = False) -> ReplicaHealth:
        """/health, then /version and /v1/models (which need the API key when one is set: 401 still answers)."""
        started = time.perf_counter()
        try:
            (await client.get(f"{replica.host_url}/health")).raise_for_status()
            version = (await client.get(f"{replica.host_url}/version")).json().get("version", "")
            listed = await client.get(f"{replica.host_url}/v1/models")
            # with --api-key the list is hidden (401): the replica answers, its models are not known
            names = tuple(str(m["id"]) for m in listed.json().get("data", [])) if listed.status_code == 200 else ("*",)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return ReplicaHealth(replica, answered=False, error=describe_http_error(exc))
        in_flight = await gauge_sum(client, f"{replica.host_url}/metrics", "vllm:num_requests_running")
        return ReplicaHealth(replica, answered=True, latency_s=time.perf_counter() - started,
                             version=str(version), models_on_disk=names, models_loaded=names, in_flight=in_flight)
