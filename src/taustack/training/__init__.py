"""Training on the host side: recipes, accelerate configs, GPU selection, run directories, the trainer launcher."""

DEFAULT_IMAGE = "taustack/trainer:0.1.0"
