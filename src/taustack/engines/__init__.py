"""One module per engine kind: image, command, health probe, readiness, balancer routes (registry: by name)."""

ENGINE_KINDS: tuple[str, ...] = ("ollama", "llamacpp", "vllm")
