"""training/*.yaml recipes: `model`, `dataset`, `sft:` (TRL SFTConfig fields), `lora:` (PEFT LoraConfig fields), and
how the model is trained: `method` (lora, or full: every parameter), `init` (pretrained weights, or config: fresh
weights from the model folder's config.json; `copy_circuit`: with an induction circuit wired in) and `shared_prefix`
(a batch's common prefix computed once).

Validated on the host without torch or TRL: key names against the checked-in field lists (a typo gets a
one-line error with the closest name), the values that matter by pydantic, everything else passed through.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from taustack.errors import TaustackError
from taustack.fileio import read_yaml
from taustack.stackfile.base import format_validation_error
from taustack.training.recipe_fields import LORA_CONFIG_FIELDS, SFT_CONFIG_FIELDS

TOP_LEVEL_KEYS = ("model", "dataset", "sft", "lora", "name", "method", "init", "shared_prefix", "copy_circuit")
# set by taustack, not by the recipe: the run directory holds the checkpoints; --resume picks the checkpoint
RESERVED_SFT_FIELDS = {
    "output_dir": "set by taustack (the run directory's checkpoints/)",
    "resume_from_checkpoint": "use `taustack train sft --resume RUN`",
}


RecipeModel = TypeVar("RecipeModel", bound=BaseModel)
# a recipe section: its key, the config fields it may hold, the config's name, its fields taustack sets (-> why)
Section = tuple[str, frozenset[str], str, dict[str, str]]


class TrainingError(TaustackError):
    """A bad recipe, GPU id, run or a failed training container: `Error: <one line>`, exit code 1."""


class SftValues(BaseModel):
    """The SFTConfig values worth checking before a container starts; other allowed fields pass through."""

    model_config = ConfigDict(extra="allow", strict=False)

    per_device_train_batch_size: int = Field(default=8, ge=1)
    per_device_eval_batch_size: int = Field(default=8, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    learning_rate: float = Field(default=2e-5, gt=0)
    num_train_epochs: float = Field(default=3.0, gt=0)
    max_steps: int = Field(default=-1, ge=-1)
    max_length: int | None = Field(default=1024, ge=1)
    packing: bool = False
    assistant_only_loss: bool = False
    eval_strategy: Literal["no", "steps", "epoch"] = "no"
    save_strategy: Literal["no", "steps", "epoch", "best"] = "steps"
    save_total_limit: int | None = Field(default=None, ge=1)
    logging_steps: float = Field(default=10, gt=0)
    warmup_steps: float = Field(default=0, ge=0)
    report_to: str | list[str] = "none"
    bf16: bool | None = None
    fp16: bool = False
    seed: int = 42


class LoraValues(BaseModel):
    """The LoraConfig values worth checking; other allowed fields pass through."""

    model_config = ConfigDict(extra="allow", strict=False)

    r: int = Field(default=8, ge=1)
    lora_alpha: int = Field(default=8, ge=1)
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: str | list[str] | None = None
    task_type: Literal["CAUSAL_LM"] = "CAUSAL_LM"
    bias: Literal["none", "all", "lora_only"] = "none"


class Recipe(BaseModel):
    """A validated recipe; `sft` and `lora` hold only the keys the file sets (TRL/PEFT defaults elsewhere)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    dataset: str = Field(min_length=1)
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    sft: dict[str, Any]
    lora: dict[str, Any] = Field(default_factory=dict)
    method: Literal["lora", "full"] = "lora"
    init: Literal["pretrained", "config"] = "pretrained"
    shared_prefix: bool = False
    copy_circuit: bool = False

    @model_validator(mode="after")
    def _method_and_init(self) -> Recipe:
        if self.copy_circuit and self.init != "config":
            raise ValueError("copy_circuit: wires fresh weights; it needs init: config")
        if self.method == "full" and self.lora:
            raise ValueError("lora: method full trains every parameter; remove the lora section (or method: lora)")
        if self.shared_prefix and self.sft.get("gradient_checkpointing"):
            raise ValueError("shared_prefix: the shared prefix's key/value cache cannot be recomputed by gradient "
                             "checkpointing; set sft.gradient_checkpointing: false")
        if self.init == "config" and self.method != "full":
            raise ValueError("init: config makes fresh weights, which need method: full (LoRA adapts trained weights)")
        return self

    def value(self, section: Literal["sft", "lora"], key: str) -> Any:
        """The value a key has in the trainer: the recipe's, else the checked default."""
        values: BaseModel = SftValues.model_validate(self.sft) if section == "sft" else LoraValues.model_validate(
            self.lora)
        return getattr(values, key)


class CheckedValues(BaseModel):
    """Both sections' checked values, so that a validation error's location starts with `sft.` or `lora.`."""

    sft: SftValues
    lora: LoraValues


def unknown_key(section: str, key: str, allowed: frozenset[str] | tuple[str, ...], kind: str) -> str:
    """`<section><key>: unknown key (not a <kind> field); did you mean ...?`"""
    close = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{section}{key}: unknown key (not a {kind} field){hint}"


def check_section_keys(data: dict[str, Any], top_level: tuple[str, ...],
                       sections: tuple[Section, ...]) -> None:
    """Top-level keys, then each (section, allowed fields, kind, reserved fields): the first bad key is named."""
    for key in data:
        if key not in top_level:
            raise TrainingError(unknown_key("", str(key), top_level, "recipe"))
    for section, allowed, kind, reserved in sections:
        values = data.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise TrainingError(f"{section}: must be a mapping of {kind} fields")
        for key in values:
            if key not in allowed:
                raise TrainingError(unknown_key(f"{section}.", str(key), allowed, kind))
            if key in reserved:
                raise TrainingError(f"{section}.{key}: {reserved[key]}; remove it from the recipe")


SECTIONS: tuple[Section, ...] = (("sft", SFT_CONFIG_FIELDS, "TRL SFTConfig", RESERVED_SFT_FIELDS),
                                 ("lora", LORA_CONFIG_FIELDS, "PEFT LoraConfig", {}))


def parse_sections(data: Any, source: str, shape: str, top_level: tuple[str, ...],
                   sections: tuple[Section, ...], model: type[RecipeModel],
                   checked: type[BaseModel], required: dict[str, str] | None = None) -> RecipeModel:
    """The one path of every recipe kind: a mapping (empty sections allowed), its keys (check_section_keys, then
    the `required` top-level keys with their messages), the pydantic model, then the sections' checked values.
    Every problem is one line starting with `source`."""
    if not isinstance(data, dict):
        raise TrainingError(f"{source}: {shape}")
    names = [section for section, *_ in sections]
    data = {key: ({} if value is None and key in names else value) for key, value in data.items()}
    try:
        check_section_keys(data, top_level, sections)
        for key, message in (required or {}).items():
            if key not in data:
                raise TrainingError(f"{key}: {message}")
    except TrainingError as exc:
        raise TrainingError(f"{source}: {exc}") from None
    try:
        recipe = model.model_validate(data)
        checked.model_validate({name: getattr(recipe, name) for name in names})
    except ValidationError as exc:
        raise TrainingError(f"{source}: {format_validation_error(exc, {})}") from None
    return recipe


def parse_recipe(data: Any, source: str = "recipe") -> Recipe:
    """A mapping (read from YAML) -> Recipe; every problem is one line naming the field."""
    return parse_sections(data, source, "a recipe is a mapping with model, dataset, sft and lora", TOP_LEVEL_KEYS,
                          SECTIONS, Recipe, CheckedValues)


def load_recipe(path: Path) -> Recipe:
    """Read and validate a recipe file."""
    return parse_recipe(read_yaml(path, "recipe", TrainingError), str(path))


def dump_recipe(recipe: BaseModel) -> str:
    """A recipe (SFT or GRPO) as YAML, as kept in a run directory."""
    return yaml.safe_dump(recipe.model_dump(exclude_none=True), sort_keys=False)
