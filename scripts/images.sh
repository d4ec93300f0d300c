#!/usr/bin/env bash
# images.sh: every image taustack builds itself, none needing a container registry.
#   base images (taustack/base, python, nginx) -> scripts/images-offline.sh --prefer-registry
#   taustack/llamacpp:0.3.36                   -> docker/llamacpp.Dockerfile (llama.cpp compiled once, cached)
#   taustack/gateway:1.106.2                   -> docker/gateway.Dockerfile (litellm[proxy] pinned)
#   taustack/router:0.1.17                     -> docker/router.Dockerfile (vllm-router, its PyPI wheel)
#   taustack/trainer:cpu (WITH_TRAINER=1 only) -> docker/trainer.Dockerfile on the Debian Python base, CPU torch from
#                                                 pip's find-links folder when it holds the wheel, else TORCH_INDEX_URL
#   taustack/vllm-cpu:0.31.0 (WITH_VLLM=1 only) -> docker/vllm-cpu.Dockerfile: vLLM on the CPU (3 GB; the tests and
#                                                 `gpus: cpu` vllm sections use it, the demo does not), same torch
# Every pip install in them is hash-checked from requirements/*.txt (scripts/lock.sh); the image tags come from
# src/taustack/versions.py. Build context: the checkout (the Dockerfiles COPY the locks from requirements/).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
export DOCKER_BUILDKIT=0
version() { sed -n "s/^$1 = \"\([^\"]*\)\".*/\1/p" "$HERE/src/taustack/versions.py"; }
LLAMACPP_IMAGE=${LLAMACPP_IMAGE:-$(version LLAMACPP_IMAGE)}
GATEWAY_IMAGE=${GATEWAY_IMAGE:-$(version GATEWAY_IMAGE)}
ROUTER_IMAGE=${ROUTER_IMAGE:-$(version ROUTER_IMAGE)}
CONTROLLER_IMAGE=$(version CONTROLLER_IMAGE)
TRAINER_IMAGE=${TRAINER_IMAGE:-$(version TRAINER_CPU_IMAGE)}
VLLM_CPU_IMAGE=${VLLM_CPU_IMAGE:-$(version VLLM_CPU_IMAGE)}
# torch's version (and the hash pip checks) is the one in the lock
TORCH_VERSION=$(sed -n 's/^torch==\([^ ]*\).*/\1/p' "$HERE/requirements/trainer-torch.txt")
TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}
"$HERE/scripts/images-offline.sh" --prefer-registry
if docker image inspect "$LLAMACPP_IMAGE" >/dev/null 2>&1 && [ "${1:-}" != "--rebuild" ]; then
  echo "[images] present: $LLAMACPP_IMAGE" >&2
else
  echo "[images] building $LLAMACPP_IMAGE (compiles llama.cpp the first time: 5-10 minutes on 2 cores)" >&2
  docker build -f "$HERE/docker/llamacpp.Dockerfile" -t "$LLAMACPP_IMAGE" "$HERE"
fi
if docker image inspect "$GATEWAY_IMAGE" >/dev/null 2>&1 && [ "${1:-}" != "--rebuild" ]; then
  echo "[images] present: $GATEWAY_IMAGE" >&2
else
  echo "[images] building $GATEWAY_IMAGE (pip install litellm[proxy]: about 2 minutes)" >&2
  docker build -f "$HERE/docker/gateway.Dockerfile" -t "$GATEWAY_IMAGE" "$HERE"
fi
if docker image inspect "$ROUTER_IMAGE" >/dev/null 2>&1 && [ "${1:-}" != "--rebuild" ]; then
  echo "[images] present: $ROUTER_IMAGE" >&2
else
  echo "[images] building $ROUTER_IMAGE (pip install vllm-router: its 24 MB wheel)" >&2
  docker build -q -f "$HERE/docker/router.Dockerfile" -t "$ROUTER_IMAGE" "$HERE" >/dev/null
fi
for pair in "taustack/prometheus:bookworm=docker/prometheus.Dockerfile=docker" \
            "$CONTROLLER_IMAGE=docker/controller.Dockerfile=."; do
  image=${pair%%=*}; rest=${pair#*=}; dockerfile=${rest%%=*}; context=${rest#*=}
  # the controller image holds this checkout's code: always built (Docker's cache makes an unchanged one instant)
  if [ "$image" != "$CONTROLLER_IMAGE" ] && docker image inspect "$image" >/dev/null 2>&1 \
     && [ "${1:-}" != "--rebuild" ]; then
    echo "[images] present: $image" >&2
  else
    echo "[images] building $image" >&2
    docker build -q -f "$HERE/$dockerfile" -t "$image" "$HERE/$context" >/dev/null
  fi
done
# The CPU trainer and the CPU vLLM take torch from build/trainer-wheels/ (gitignored, in their build context) when pip
# has the wheel on this host, else from TORCH_INDEX_URL; the folder goes once the builds are done, so that it is not in
# the next build's context (the checkout).
wheels="$HERE/build/trainer-wheels"
stage_torch() {
  rm -rf "$wheels" && mkdir -p "$wheels"
  local find_links wheel
  find_links=${PIP_FIND_LINKS:-$(python3 -m pip config list 2>/dev/null | sed -n "s/^[^=]*find-links='\\([^' ]*\\).*/\\1/p" | head -1)}
  wheel=$(ls "${find_links:-/nonexistent}"/torch-"$TORCH_VERSION"-cp311-*x86_64.whl 2>/dev/null | head -1 || true)
  if [ -n "$wheel" ]; then
    ln "$wheel" "$wheels/" 2>/dev/null || cp -p "$wheel" "$wheels/"
    echo "torch from $wheel"
  else
    echo "torch $TORCH_VERSION from $TORCH_INDEX_URL"
  fi
}
trap 'rm -rf "$wheels"' EXIT
# The CPU trainer (1.8 GB; the tests train with it, the demo does not need it) holds this checkout's code: built on
# every call with WITH_TRAINER=1 (Docker's cache leaves only the last layer to redo when the code changed).
if [ "${WITH_TRAINER:-0}" = 1 ]; then
  source=$(stage_torch)
  echo "[images] building $TRAINER_IMAGE ($source; first build: pip installs TRL & co, 2-3 minutes)" >&2
  docker build -q -f "$HERE/docker/trainer.Dockerfile" --build-arg BASE_IMAGE=taustack/python:bookworm \
    --build-arg TORCH_INDEX_URL="$TORCH_INDEX_URL" -t "$TRAINER_IMAGE" "$HERE" >/dev/null
fi
# vLLM on the CPU (WITH_VLLM=1): built once per version (its tag), like the llama.cpp engine
if [ "${WITH_VLLM:-0}" = 1 ]; then
  if docker image inspect "$VLLM_CPU_IMAGE" >/dev/null 2>&1 && [ "${1:-}" != "--rebuild" ]; then
    echo "[images] present: $VLLM_CPU_IMAGE" >&2
  else
    source=$(stage_torch)
    echo "[images] building $VLLM_CPU_IMAGE ($source; vllm-cpu and its dependencies, 1.9 GB: 2-4 minutes)" >&2
    docker build -q -f "$HERE/docker/vllm-cpu.Dockerfile" --build-arg TORCH_INDEX_URL="$TORCH_INDEX_URL" \
      -t "$VLLM_CPU_IMAGE" "$HERE" >/dev/null
  fi
fi
