"""The agents compared: tau2's stock llm_agent, and taustack's LLMAgentV2 (llm_agent_v2) when it exists, with the
bench's config for it (TAUSTACK_AGENT_CONFIG: fast backoff; in the context scenario also the served context)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

STOCK = "llm_agent"
V2 = "llm_agent_v2"
HERE = Path(__file__).resolve().parent
BENCH_CONFIG = HERE / "v2-bench.yaml"


def register_v2() -> str | None:
    """Register LLMAgentV2 with tau2; a message when its module does not exist yet (None when registered).

    Only a missing taustack.agents.register is a skip: any other failure while importing it is raised."""
    try:
        from taustack.agents.register import register_agents  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("taustack.agents"):
            return f"{V2} skipped: {exc.name} cannot be imported yet ({exc})"
        raise
    from tau2.registry import registry

    if V2 not in registry.get_agents():
        register_agents()
    return None


def bench_config() -> dict[str, Any]:
    data = yaml.safe_load(BENCH_CONFIG.read_text()) or {}
    return dict(data)


def write_config(path: Path, served_context_tokens: int | None = None) -> Path:
    """The bench's V2 config, with context.served_context_tokens set when given; validated by taustack's loader."""
    data = bench_config()
    if served_context_tokens is not None:
        data.setdefault("context", {})["served_context_tokens"] = int(served_context_tokens)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    from taustack.agents.config import load_config

    load_config(path)
    return path
