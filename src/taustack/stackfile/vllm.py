"""The vllm section of the stack file: TP x PP x DP per replica, replicas behind nginx, typed engine flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from taustack.engines.cpus import parse_core_list
from taustack.errors import SpecError
from taustack.planner.layout import layout_problem, shape_from_config
from taustack.stackfile.base import TOOL_CHECK_HELP, EnvName, ImageRef, ModelName, Port, ReplicaGroupSpec, ToolCheck
from taustack.stackfile.gpus import PlacementError
from taustack.versions import VLLM_CPU_IMAGE, VLLM_IMAGE, VLLM_VERSION

# The parsers the pinned vLLM knows: 0.31.0's ToolParserManager and ReasoningParserManager registries (read inside the
# CPU image, the same source; tests/docker/test_vllm_cpu.py compares). Names outside these lists are refused.
TOOL_CALL_PARSERS = (
    "apertus", "cohere_command3", "cohere_command4", "deepseek_v3", "deepseek_v31", "deepseek_v32", "deepseek_v4",
    "deepseek_v41", "dots", "ernie45", "functiongemma", "gemma4", "gigachat3", "glm45", "glm47", "granite",
    "granite-20b-fc", "granite4", "hermes", "hunyuan_a13b", "hy_v3", "hy_v4", "inkling", "internlm", "jamba",
    "k2_horizon", "kimi_k2", "kimi_k3", "lfm2", "ling3", "llama3_json", "llama4_json", "llama4_pythonic", "longcat",
    "mimo", "minicpm5", "minimax_m2", "minimax_m3", "mistral", "muse_glimmer", "olmo3", "openai", "phi4_mini_json",
    "poolside_v1", "pythonic", "qwen3_coder", "qwen3_xml", "seed_oss", "step3", "step3p5", "xlam",
)
REASONING_PARSERS = (
    "cohere_command3", "cohere_command4", "deepseek_r1", "deepseek_v3", "deepseek_v4", "deepseek_v41", "ernie45",
    "gemma4", "glm45", "glm47", "granite", "granite_thinking_parser", "holo2", "hunyuan_a13b", "hy_v3", "hy_v4",
    "inkling", "k2_horizon", "kimi_k2", "kimi_k3", "ling3", "mimo", "minimax_m2", "minimax_m2_append_think",
    "minimax_m3", "mistral", "muse_glimmer", "nemotron_v3", "olmo3", "openai_gptoss", "poolside_v1", "qwen3",
    "seed_oss", "step3", "step3p5",
)
# The head sizes vLLM 0.31.0's CPU attention takes (CPUAttentionBackend.get_supported_head_sizes; the CPU image's own
# list is compared in tests/docker/test_vllm_cpu.py): a model with another head_dim fails at start on the CPU.
CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")


def check_core_list(value: object) -> tuple[int, ...] | None:
    """`0-3,6`, a list of core numbers, or None (the cores this host gives the controller)."""
    return None if value is None else parse_core_list(value)  # type: ignore[arg-type]


class VllmSpec(ReplicaGroupSpec):
    """vLLM replicas, each TP x PP x DP GPUs, behind one nginx port (8000)."""

    model: str = Field(..., description="a Hugging Face model id, or a path inside the HF cache volume")
    served_model_name: ModelName | None = Field(None, description="the name clients ask for (default: the model id)")
    config: str | None = Field(None, description="the model's config.json on this host, to check the layout "
                                                 "(default: looked up in the local HF cache)")
    image: ImageRef | None = Field(None, description=f"the engine image, pinned (default: {VLLM_IMAGE} on GPUs, "
                                                     f"{VLLM_CPU_IMAGE} on the CPU)")
    tensor_parallel: int = Field(1, ge=1, description="--tensor-parallel-size: GPUs sharing each layer")
    pipeline_parallel: int = Field(1, ge=1, description="--pipeline-parallel-size: stages of layers")
    data_parallel: int = Field(1, ge=1, description="--data-parallel-size: engine copies inside one replica")
    max_model_len: int | None = Field(None, ge=128, description="--max-model-len (context length)")
    gpu_memory_utilization: float = Field(0.9, gt=0.1, le=1.0, description="--gpu-memory-utilization")
    max_num_seqs: int | None = Field(None, ge=1, description="--max-num-seqs (per DP rank)")
    quantization: str | None = Field(None, description="--quantization (awq, gptq, fp8, ...)")
    dtype: str | None = Field(None, description=f"--dtype ({', '.join(DTYPES)}; default: vLLM's auto, which is "
                                                "bfloat16 on a CPU for a float32 checkpoint)")
    cpu_cores: Annotated[tuple[int, ...] | None, BeforeValidator(check_core_list)] = Field(
        None, description="on the CPU: the cores the replicas' ranks are bound to, one rank per cores_per_rank "
                          "cores, e.g. '0-7' (default: every core this host gives the controller)")
    cores_per_rank: int = Field(1, ge=1, description="on the CPU: cores each TP/PP/DP rank is bound to "
                                                    "(VLLM_CPU_OMP_THREADS_BIND)")
    kv_cache_gib: int = Field(1, ge=1, description="on the CPU: GiB of KV cache per rank (VLLM_CPU_KVCACHE_SPACE); "
                                                   "GPUs size theirs with gpu_memory_utilization")
    enable_lora: bool = Field(False, description="--enable-lora")
    lora_modules: dict[str, str] = Field(default_factory=dict, description="--lora-modules name=path")
    chat_template: str | None = Field(None, description="--chat-template (a path inside the container)")
    tool_call_parser: str | None = Field("hermes", description="with --enable-auto-tool-choice; None: no tools")
    reasoning_parser: str | None = Field(None, description="--reasoning-parser for models that think")
    tool_check: ToolCheck = Field("require", description=TOOL_CHECK_HELP + "; default require: a group with a tool "
                                  "parser is there for agents, and a parser that does not fit the model fails them all "
                                  "(off without tool_call_parser)")
    enable_prefix_caching: bool = Field(True, description="--enable-prefix-caching (agent turns share prefixes)")
    api_key_env: EnvName | None = Field(None, description="variable holding vLLM's --api-key (protects /v1 only)")
    hf_cache: str = Field("hf-cache", description="a volume name or a host path for /root/.cache/huggingface")
    unlimited_memlock: bool = Field(True, description="memlock -1, which NCCL wants (GPUs only); hosts whose kernel "
                                                      "refuses raising it (some sandboxes) need false")
    port: Port = Field(8000, description="the balancer's port; replica i listens on port+1+i")
    extra_args: list[str] = Field(default_factory=list, description="more `vllm serve` flags, passed as given")
    env: dict[EnvName, str] = Field(default_factory=dict, description="more environment of every replica "
                                    "(VLLM_LOGGING_LEVEL, VLLM_SERVER_DEV_MODE, ...), written into the rendered "
                                    "compose file: keys belong in api_key_env")
    gpus_per_replica: int | None = Field(None, ge=1, description="derived: TP x PP x DP")
    nodes: int = Field(1, ge=1, description="with a hosts: section: hosts each replica spans, as vLLM's own "
                                            "multi-node (a head and --headless followers; each host runs TP x PP x "
                                            "DP / nodes ranks: TP inside a host, PP across hosts)")
    master_port: Port = Field(29501, description="nodes > 1: vLLM's rendezvous port on the head's private address "
                                                 "(the group's heartbeat is master_port + 1)")

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str | None) -> str | None:
        if value is not None and value not in DTYPES:
            raise ValueError(f"{value!r} is not a vLLM --dtype ({', '.join(DTYPES)})")
        return value

    @model_validator(mode="after")
    def _image(self) -> VllmSpec:
        """The GPU image on GPUs, the CPU build of the same vLLM on the CPU, unless the file names one."""
        if self.image is None:
            self.image = VLLM_CPU_IMAGE if self.on_cpu() else VLLM_IMAGE
        return self

    @model_validator(mode="after")
    def _cores(self) -> VllmSpec:
        """cpu_cores given: every rank of every replica gets cores_per_rank cores of them (the host's are checked
        when the stack resolves)."""
        if self.cpu_cores is None:
            return self
        if not self.on_cpu():
            raise ValueError("cpu_cores: set, but the replicas run on GPUs (gpus / gpu_ids)")
        if self.hosts is not None or self.nodes > 1:  # the cores of each host: checked per host (stackfile.spread)
            return self
        needed = self.cores_needed()
        if needed > len(self.cpu_cores):
            raise ValueError(f"cpu_cores: {self.cores_layout()} need {needed} cores, {len(self.cpu_cores)} given")
        return self

    @field_validator("tool_call_parser", "reasoning_parser")
    @classmethod
    def _known_parser(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Parser names are checked against the lists of the pinned vLLM."""
        known, kind = ((TOOL_CALL_PARSERS, "tool call") if info.field_name == "tool_call_parser"
                       else (REASONING_PARSERS, "reasoning"))
        if value is not None and value not in known:
            raise ValueError(f"{value!r} is not a {kind} parser of vLLM {VLLM_VERSION} ({', '.join(known)})")
        return value

    @model_validator(mode="after")
    def _nodes(self) -> VllmSpec:
        """A replica spanning hosts runs the same number of ranks on each (vLLM's --nnodes)."""
        if self.replica_size() % self.nodes:
            raise ValueError(f"nodes: TP x PP x DP = {self.replica_size()} ranks do not split over {self.nodes} hosts")
        return self

    @model_validator(mode="after")
    def _per_replica(self) -> VllmSpec:
        size = self.tensor_parallel * self.pipeline_parallel * self.data_parallel
        if self.gpus_per_replica is not None and self.gpus_per_replica != size:
            raise ValueError(f"gpus_per_replica: each replica uses TP x PP x DP = {size} GPUs; leave it unset")
        return self

    @model_validator(mode="after")
    def _layout(self) -> VllmSpec:
        """A config.json the file names is checked here; one found in the HF cache, when the stack resolves."""
        problem = self.layout_problem(Path(self.config)) if self.config else None
        if problem:
            raise ValueError(problem)
        return self

    def layout_problem(self, path: Path) -> str | None:
        """`field: why` when the model at `path` (its config.json) cannot take this TP/PP (or, on the CPU, its
        head_dim); None when it can."""
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = None
        if not isinstance(config, dict):
            return f"config: {path} is not a readable config.json"
        try:
            shape = shape_from_config(self.model, config)
        except SpecError as exc:
            return f"config: {exc}"
        problem = layout_problem(shape, self.tensor_parallel, self.pipeline_parallel)
        if problem:
            return f"{'tensor_parallel' if problem.startswith('TP') else 'pipeline_parallel'}: {problem}"
        if self.on_cpu() and shape.head_dim not in CPU_HEAD_SIZES:
            return (f"model: head_dim {shape.head_dim} of {self.model} is not one vLLM's CPU attention takes "
                    f"({', '.join(map(str, CPU_HEAD_SIZES))}): serve it on GPUs or with llama.cpp")
        return None

    def per_replica_gpus(self, section: str, devices: list[str] | None) -> int | None:
        """TP x PP x DP, which must use every GPU given: an idle GPU is an error."""
        if devices is None:
            return self.gpus_per_replica
        size, count = self.replica_size(), len(devices)
        if count % size:
            raise PlacementError(f"{section}.gpus: {count} GPUs leave {count % size} idle: each replica takes "
                                 f"TP x PP x DP = {size}")
        return size

    def on_cpu(self) -> bool:
        return self.gpus == "cpu" and not self.gpu_ids

    def cores_needed(self) -> int:
        """Cores the CPU replicas bind: replicas x TP x PP x DP ranks x cores_per_rank."""
        return (self.replicas or 1) * self.replica_size() * self.cores_per_rank

    def cores_layout(self) -> str:
        """The count of cores_needed in words, for errors."""
        return (f"{self.replicas or 1} replica(s) x {self.replica_size()} rank(s) (TP x PP x DP) x "
                f"{self.cores_per_rank} core(s) per rank")

    def served_name(self) -> str:
        return self.served_model_name or self.model

    def replica_size(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel * self.data_parallel

