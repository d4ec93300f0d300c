"""Multi-GPU runs: check an accelerate config file and build the `accelerate launch` command around train.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from taustack.training.recipe import TrainingError

DEFAULT_CONFIG = Path("training/accelerate/multi_gpu.yaml")
DISTRIBUTED_TYPES = ("MULTI_GPU", "FSDP", "DEEPSPEED", "NO")
MIXED_PRECISION = ("no", "fp16", "bf16", "fp8")
KNOWN_KEYS = frozenset({
    "compute_environment", "distributed_type", "mixed_precision", "num_machines", "machine_rank", "num_processes",
    "gpu_ids", "main_training_function", "rdzv_backend", "same_network", "use_cpu", "downcast_bf16",
    "main_process_ip", "main_process_port", "tpu_env", "tpu_use_cluster", "tpu_use_sudo", "enable_cpu_affinity",
    "fsdp_config", "deepspeed_config", "dynamo_config", "debug", "parallelism_config",
})


def check_accelerate_config(path: Path) -> dict[str, Any]:
    """The config's mapping; an error naming the file and key when it is not one accelerate launch accepts."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingError(f"accelerate config {path} does not exist") from None
    except yaml.YAMLError:
        raise TrainingError(f"{path}: not valid YAML") from None
    if not isinstance(data, dict):
        raise TrainingError(f"{path}: an accelerate config is a mapping")
    for key in data:
        if key not in KNOWN_KEYS:
            raise TrainingError(f"{path}: {key}: not an accelerate config key")
    if data.get("distributed_type") not in DISTRIBUTED_TYPES:
        raise TrainingError(f"{path}: distributed_type: one of {', '.join(DISTRIBUTED_TYPES)}")
    if data.get("mixed_precision", "no") not in MIXED_PRECISION:
        raise TrainingError(f"{path}: mixed_precision: one of {', '.join(MIXED_PRECISION)}")
    if data.get("num_machines", 1) != 1:
        raise TrainingError(f"{path}: num_machines: taustack launches on one node (1)")
    if data.get("use_cpu"):
        raise TrainingError(f"{path}: use_cpu: true; multi-GPU configs run on GPUs")
    return data


def launch_command(train_args: list[str], gpu_count: int, config_in_container: str | None,
                   module: str = "taustack.trainer.train") -> list[str]:
    """`python -m <module> ...` (SFT's train, or grpo) for one GPU or the CPU; `accelerate launch` for several."""
    if gpu_count <= 1:
        return ["python", "-m", module, *train_args]
    if config_in_container is None:
        raise TrainingError(f"{gpu_count} GPUs need an accelerate config (--accelerate-config)")
    return ["accelerate", "launch", "--config_file", config_in_container, "--num_processes", str(gpu_count),
            "--num_machines", "1", "-m", module, *train_args]
