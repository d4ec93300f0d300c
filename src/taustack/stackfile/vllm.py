"""The vllm section of the stack file: TP x PP x DP per replica, replicas behind nginx, typed engine flags."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator, model_validator

from taustack.errors import SpecError
from taustack.planner.layout import layout_problem, shape_from_config
from taustack.stackfile.base import EnvName, ImageRef, ModelName, Port, ReplicaGroupSpec
from taustack.stackfile.gpus import PlacementError
from taustack.versions import VLLM_VERSION

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


class VllmSpec(ReplicaGroupSpec):
    """vLLM replicas, each TP x PP x DP GPUs, behind one nginx port (8000)."""

    model: str = Field(..., description="a Hugging Face model id, or a path inside the HF cache volume")
    served_model_name: ModelName | None = Field(None, description="the name clients ask for (default: the model id)")
    config: str | None = Field(None, description="the model's config.json on this host, to check the layout "
                                                 "(default: looked up in the local HF cache)")
    image: ImageRef = Field(f"vllm/vllm-openai:v{VLLM_VERSION}", description="the engine image, pinned")
    tensor_parallel: int = Field(1, ge=1, description="--tensor-parallel-size: GPUs sharing each layer")
    pipeline_parallel: int = Field(1, ge=1, description="--pipeline-parallel-size: stages of layers")
    data_parallel: int = Field(1, ge=1, description="--data-parallel-size: engine copies inside one replica")
    max_model_len: int | None = Field(None, ge=128, description="--max-model-len (context length)")
    gpu_memory_utilization: float = Field(0.9, gt=0.1, le=1.0, description="--gpu-memory-utilization")
    max_num_seqs: int | None = Field(None, ge=1, description="--max-num-seqs (per DP rank)")
    quantization: str | None = Field(None, description="--quantization (awq, gptq, fp8, ...)")
    enable_lora: bool = Field(False, description="--enable-lora")
    lora_modules: dict[str, str] = Field(default_factory=dict, description="--lora-modules name=path")
    chat_template: str | None = Field(None, description="--chat-template (a path inside the container)")
    tool_call_parser: str | None = Field("hermes", description="with --enable-auto-tool-choice; None: no tools")
    reasoning_parser: str | None = Field(None, description="--reasoning-parser for models that think")
    enable_prefix_caching: bool = Field(True, description="--enable-prefix-caching (agent turns share prefixes)")
    api_key_env: EnvName | None = Field(None, description="variable holding vLLM's --api-key (protects /v1 only)")
    hf_cache: str = Field("hf-cache", description="a volume name or a host path for /root/.cache/huggingface")
    unlimited_memlock: bool = Field(True, description="memlock -1, which NCCL wants; hosts whose kernel refuses "
                                                      "raising it (some sandboxes) need false")
    port: Port = Field(8000, description="the balancer's port; replica i listens on port+1+i")
    extra_args: list[str] = Field(default_factory=list, description="more `vllm serve` flags, passed as given")
    gpus_per_replica: int | None = Field(None, ge=1, description="derived: TP x PP x DP")

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
        """`field: why` when the model at `path` (its config.json) cannot take this TP/PP; None when it can."""
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

    def served_name(self) -> str:
        return self.served_model_name or self.model

    def replica_size(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel * self.data_parallel

