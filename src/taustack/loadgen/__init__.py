"""`taustack bench`: an async load generator for OpenAI-compatible and Ollama endpoints."""
