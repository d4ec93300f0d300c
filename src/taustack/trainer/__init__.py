"""What runs inside the trainer image (imports torch, TRL, PEFT): training, export, HF -> GGUF."""
