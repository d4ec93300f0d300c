"""LLMAgentV2's configuration: one validated model, a section per mechanism, each switchable for an ablation.

A config file lists only what differs from the defaults (agents/v2.yaml spells the defaults out). It reaches agents
that tau2 constructs through TAUSTACK_AGENT_CONFIG (a path), never through llm_args, which tau2 sends to the model
and writes into results files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taustack.errors import TaustackError
from taustack.fileio import read_yaml
from taustack.stackfile.base import format_validation_error

CONFIG_VARIABLE = "TAUSTACK_AGENT_CONFIG"


class AgentConfigError(TaustackError):
    """An agent config that cannot be used: unreadable, unknown keys, out-of-range values."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class RepairConfig(Section):
    """Tool calls repaired and validated before dispatch; what cannot be repaired unambiguously is re-prompted."""

    enabled: bool = True
    json_arguments: bool = Field(True, description="arguments that are not JSON: fences, trailing text, quotes...")
    leaked_calls: bool = Field(True, description="tool calls written into the content (hermes, [TOOL_CALLS], JSON)")
    tool_names: bool = Field(True, description="names that differ from a tool's only in case, separators, prefix")
    schema_check: bool = Field(True, description="required keys, types, enums; safe coercions such as '3' -> 3")
    max_reprompts: int = Field(2, ge=0, le=10, description="re-prompts quoting the exact error, per agent turn")


class ProtocolConfig(Section):
    """tau2's protocol: a message is text or tool calls, never both, never empty."""

    enabled: bool = True
    mixed: Literal["tool_calls", "text", "reprompt"] = Field(
        "tool_calls", description="text and a tool call in one message: keep the calls, keep the text, or re-prompt")
    empty: Literal["reprompt"] = Field("reprompt", description="an empty message is re-prompted")


class ContextConfig(Section):
    """The oldest turns are dropped to fit a token budget (system prompt, opening turns, call/result pairs kept)."""

    enabled: bool = True
    max_context_tokens: int | None = Field(None, ge=256, description="default: the served context minus max_tokens")
    served_context_tokens: int | None = Field(None, ge=256, description="the engine's context (eval run fills it "
                                                                          "from the serving fingerprint)")
    tokenizer: str | None = Field(None, description="a folder with tokenizer.json; else an estimate that over-counts")
    keep_opening_messages: int = Field(2, ge=0, description="first messages after the system prompt always kept")


class VotingConfig(Section):
    """Self-consistency: n samples at a temperature, a vote over normalised actions (off by default)."""

    enabled: bool = False
    samples: int = Field(5, ge=2, le=32)
    temperature: float = Field(0.7, gt=0.0, le=2.0)
    weighted: bool = Field(False, description="weight votes by mean token logprob where the engine returns them")


class ThinkConfig(Section):
    """A no-op `think` tool the agent handles itself; never sent to the environment."""

    enabled: bool = False


class RecoveryConfig(Section):
    """Transient endpoint errors retried with backoff; past the budget the error goes to tau2."""

    enabled: bool = True
    retries: int = Field(4, ge=0, le=20)
    backoff_s: float = Field(1.0, ge=0.0, le=60.0)
    max_backoff_s: float = Field(30.0, ge=0.0, le=600.0)


class AnalyticsConfig(Section):
    """Counters per assistant message in raw_data["taustack"], summed per simulation by eval report."""

    enabled: bool = True


class AgentConfig(Section):
    repair: RepairConfig = Field(default_factory=RepairConfig)
    protocol: ProtocolConfig = Field(default_factory=ProtocolConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    voting: VotingConfig = Field(default_factory=VotingConfig)
    think: ThinkConfig = Field(default_factory=ThinkConfig)
    recovery: RecoveryConfig = Field(default_factory=RecoveryConfig)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)


def load_config(path: Path) -> AgentConfig:
    """A config file; every problem on one line naming the key."""
    data = read_yaml(path, "agent config", AgentConfigError)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AgentConfigError(f"{path}: an agent config is a mapping of sections (repair:, context:, ...)")
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise AgentConfigError(f"{path}: {format_validation_error(exc, {})}") from None


def config_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def active_config() -> AgentConfig:
    """The config agents constructed by tau2 use: TAUSTACK_AGENT_CONFIG's file, else the defaults."""
    path = os.environ.get(CONFIG_VARIABLE)
    return load_config(Path(path)) if path else AgentConfig()
