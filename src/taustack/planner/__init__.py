"""vLLM layouts (TP x PP x DP) for a model on given GPUs, and their report."""
