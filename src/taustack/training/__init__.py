"""Training: tau2 results -> datasets -> OpenAI/TRL format, token statistics, the SFT trainer."""
