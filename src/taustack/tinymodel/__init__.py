"""`taustack model tiny`: a small random Llama model made entirely locally (tokenizer, weights, GGUF)."""
