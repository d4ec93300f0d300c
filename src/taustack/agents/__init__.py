"""LLMAgentV2: a tau2 agent that survives what small open models do (repair, protocol, context, voting, recovery,
analytics), registered with tau2 by taustack and by `taustack-tau2`."""
