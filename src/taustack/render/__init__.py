"""Pure functions of a resolved stack -> the files in compose/generated/ (compose, nginx, LiteLLM, monitoring)."""
