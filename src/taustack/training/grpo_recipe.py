"""training/grpo.yaml: `model`, `environment:` (tau2 domain, split, mode), `grpo:` (TRL GRPOConfig fields), `lora:`,
`reward:`. Checked on the host like the SFT recipe (unknown keys named with the closest field, values range-checked,
the domain and split against tau2's own lists) before anything starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from taustack.fileio import read_yaml
from taustack.training.environments import TaskSelection, select_file_tasks, select_tasks
from taustack.training.recipe import LoraValues, Section, TrainingError, parse_sections
from taustack.training.recipe_fields import GRPO_CONFIG_FIELDS, LORA_CONFIG_FIELDS
from taustack.workspace import DEFAULT_PROJECT

TOP_LEVEL_KEYS = ("model", "name", "environment", "grpo", "lora", "reward", "method")
RESERVED_GRPO_FIELDS: dict[str, str] = {
    "output_dir": "set by taustack (the run directory's checkpoints/)",
    "resume_from_checkpoint": "use `taustack train grpo --resume RUN`",
    "max_tool_calling_iterations": "episodes run in tau2 (environment.max_steps bounds them)",
}
SECTIONS: tuple[Section, ...] = (("grpo", GRPO_CONFIG_FIELDS, "TRL GRPOConfig", RESERVED_GRPO_FIELDS),
                                 ("lora", LORA_CONFIG_FIELDS, "PEFT LoraConfig", {}))
# the stack's gateway, by service name on the stack's compose network (its published port is loopback only)
STACK_GATEWAY_URL = "http://gateway:4000/v1"
STACK_NETWORK = f"{DEFAULT_PROJECT}_default"  # compose's default network of the stack's project
# the variable the trainer container reads the user simulator's key from (the launcher sets it, by name only)
USER_KEY_ENV = "TAUSTACK_USER_API_KEY"


class UserSimulator(BaseModel):
    """mode: user: the user simulator is a model the stack serves, named as `taustack eval run --user-model`."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="the model name the gateway (or base_url) serves")
    base_url: str = Field(default=STACK_GATEWAY_URL, pattern=r"^https?://")
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    network: str | None = Field(default=STACK_NETWORK, description="the Docker network the trainer joins")
    args: dict[str, Any] = Field(default_factory=lambda: {"temperature": 0.0})


class EnvironmentSpec(BaseModel):
    """The tau2 environment episodes run in."""

    model_config = ConfigDict(extra="forbid")

    domain: str = Field(min_length=1)
    tasks: str | None = Field(default=None, min_length=1,
                              description="a task file (tau2 tasks JSON) instead of the domain's own tasks")
    split: str | None = None  # tau2's train split where the domain has one
    task_ids: list[str] | None = Field(default=None, min_length=1)
    num_tasks: int | None = Field(default=None, ge=1)
    mode: Literal["solo", "user"] = "solo"
    user: UserSimulator | None = None
    max_steps: int = Field(default=30, ge=2, le=1000, description="tau2's orchestrator steps per episode")
    max_turn_tokens: int | None = Field(default=None, ge=1,
                                        description="tokens one model turn may generate (default: the episode's "
                                                    "grpo.max_completion_length)")

    @model_validator(mode="after")
    def _user_for_user_mode(self) -> EnvironmentSpec:
        if self.mode == "user" and self.user is None:
            raise ValueError("user: mode user needs a user simulator (user.model, served by the stack)")
        if self.mode == "solo" and self.user is not None:
            raise ValueError("user: solo mode has no user simulator; remove user or set mode: user")
        if self.tasks is not None and self.split is not None:
            raise ValueError("split: a task file (environment.tasks) has no splits; choose with task_ids or num_tasks")
        return self


class GrpoValues(BaseModel):
    """The GRPOConfig values worth checking before a container starts; other allowed fields pass through."""

    model_config = ConfigDict(extra="allow", strict=False)

    num_generations: int = Field(default=8, ge=2)
    per_device_train_batch_size: int = Field(default=8, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    steps_per_generation: int | None = Field(default=None, ge=1)
    learning_rate: float = Field(default=1e-6, gt=0)
    beta: float = Field(default=0.0, ge=0)
    num_iterations: int = Field(default=1, ge=1)
    epsilon: float = Field(default=0.2, gt=0, lt=1)
    max_completion_length: int | None = Field(default=512, ge=1)
    temperature: float = Field(default=1.0, gt=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_steps: int = Field(default=-1, ge=-1)
    num_train_epochs: float = Field(default=3.0, gt=0)
    logging_steps: float = Field(default=10, gt=0)
    save_strategy: Literal["no", "steps", "epoch", "best"] = "steps"
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo", "cispo", "sapo", "luspo", "vespo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] | bool = "group"
    report_to: str | list[str] = "none"
    bf16: bool | None = None
    fp16: bool = False
    seed: int = 42

    def generation_batch(self, processes: int) -> int:
        """TRL's generation_batch_size: completions per generation round, a multiple of num_generations."""
        steps = self.steps_per_generation or self.gradient_accumulation_steps
        return self.per_device_train_batch_size * processes * steps


class RewardSpec(BaseModel):
    """tau2's evaluator reward; partial credit (off by default) adds a share for the DB and action checks passed."""

    model_config = ConfigDict(extra="forbid")

    partial_credit: bool = False
    partial_weight: float = Field(default=0.5, gt=0, lt=1, description="the most a failed episode can earn")


class GrpoRecipe(BaseModel):
    """A validated GRPO recipe; `grpo` and `lora` hold only the keys the file sets (TRL/PEFT defaults elsewhere)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    environment: EnvironmentSpec
    grpo: dict[str, Any] = Field(default_factory=dict)
    lora: dict[str, Any] = Field(default_factory=dict)
    reward: RewardSpec = Field(default_factory=RewardSpec)
    method: Literal["lora", "full"] = "lora"

    @model_validator(mode="after")
    def _no_lora_when_full(self) -> GrpoRecipe:
        if self.method == "full" and self.lora:
            raise ValueError("lora: method full trains every parameter; remove the lora section (or method: lora)")
        return self

    @property
    def values(self) -> GrpoValues:
        return GrpoValues.model_validate(self.grpo)

    def tasks(self, root: Path | None = None) -> TaskSelection:
        """The tasks: tau2's own, or environment.tasks' file (relative paths from `root`, the project root)."""
        env = self.environment
        solo = env.mode == "solo"
        if env.tasks is None:
            return select_tasks(env.domain, env.split, env.task_ids, env.num_tasks, solo=solo)
        path = Path(env.tasks)
        return select_file_tasks(env.domain, path if path.is_absolute() or root is None else root / path,
                                 env.task_ids, env.num_tasks, solo)


class CheckedValues(BaseModel):
    grpo: GrpoValues
    lora: LoraValues


def generation_batch_error(values: GrpoValues, processes: int) -> str | None:
    """TRL's rule: num_generations must divide the generation batch (per process count); the one line, or None."""
    batch = values.generation_batch(processes)
    if batch % values.num_generations == 0:
        return None
    return (f"grpo.num_generations: {values.num_generations} must divide the generation batch "
            f"(per_device_train_batch_size x {processes} process(es) x steps_per_generation = {batch})")


def parse_grpo_recipe(data: Any, source: str = "recipe") -> GrpoRecipe:
    """A mapping (read from YAML) -> GrpoRecipe, its tasks resolved; every problem is one line naming the field."""
    recipe = parse_sections(
        data, source, "a GRPO recipe is a mapping with model, environment, grpo and lora", TOP_LEVEL_KEYS, SECTIONS,
        GrpoRecipe, CheckedValues,
        required={"environment": "missing (a tau2 domain to train in: environment.domain)"})
    problem = generation_batch_error(recipe.values, 1)
    if problem:
        raise TrainingError(f"{source}: {problem}")
    try:
        if recipe.environment.tasks is None:  # a task file is read where it is launched (its path is the host's)
            recipe.tasks()
    except TrainingError as exc:
        raise TrainingError(f"{source}: {exc}") from None
    return recipe


def load_grpo_recipe(path: Path) -> GrpoRecipe:
    return parse_grpo_recipe(read_yaml(path, "recipe", TrainingError), str(path))
