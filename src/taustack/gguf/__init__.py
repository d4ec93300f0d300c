"""GGUF files: taustack's own writer, the check before serving one, and the tiny local model."""
