"""tau2 results -> datasets -> OpenAI fine-tuning JSONL, token statistics (host side: no torch)."""
