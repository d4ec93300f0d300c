"""taustack: serve, measure and train open models for tool-calling agents on your own GPUs."""

__version__ = "0.1.0"
