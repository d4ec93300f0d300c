"""LLMAgentV2's names in tau2's agent registry: called wherever taustack runs tau2, and by `taustack-tau2`."""

from __future__ import annotations

AGENT_NAMES = ("llm_agent_v2", "llm_agent_v2_solo")


def register_agents() -> list[str]:
    """Register V2 with the tau2 in this process (once; a second call is a no-op). Returns the names added."""
    from tau2.registry import registry

    from taustack.agents.agent import LLMAgentV2, LLMAgentV2Solo

    known = set(registry.get_agents())
    added = []
    for name, cls in zip(AGENT_NAMES, (LLMAgentV2, LLMAgentV2Solo), strict=True):
        if name not in known:
            registry.register_agent(cls, name)
            added.append(name)
    return added
