#!/usr/bin/env bash
# images.sh: every image taustack builds itself, none needing a container registry.
#   base images (taustack/base, python, nginx) -> scripts/images-offline.sh --prefer-registry
#   taustack/llamacpp:0.3.36                   -> docker/llamacpp.Dockerfile (llama.cpp compiled once, cached)
#   taustack/gateway:1.106.2                   -> docker/gateway.Dockerfile (litellm[proxy] pinned)
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
export DOCKER_BUILDKIT=0
LLAMACPP_IMAGE=${LLAMACPP_IMAGE:-taustack/llamacpp:0.3.36}
GATEWAY_IMAGE=${GATEWAY_IMAGE:-taustack/gateway:1.106.2}
"$HERE/scripts/images-offline.sh" --prefer-registry
if docker image inspect "$LLAMACPP_IMAGE" >/dev/null 2>&1 && [ "${1:-}" != "--rebuild" ]; then
  echo "[images] present: $LLAMACPP_IMAGE" >&2
else
  echo "[images] building $LLAMACPP_IMAGE (compiles llama.cpp the first time: 5-10 minutes on 2 cores)" >&2
  docker build -f "$HERE/docker/llamacpp.Dockerfile" -t "$LLAMACPP_IMAGE" "$HERE/docker"
fi
if docker image inspect "$GATEWAY_IMAGE" >/dev/null 2>&1 && [ "${1:-}" != "--rebuild" ]; then
  echo "[images] present: $GATEWAY_IMAGE" >&2
else
  echo "[images] building $GATEWAY_IMAGE (pip install litellm[proxy]: about 2 minutes)" >&2
  docker build -f "$HERE/docker/gateway.Dockerfile" -t "$GATEWAY_IMAGE" "$HERE/docker"
fi
for pair in "taustack/prometheus:bookworm=docker/prometheus.Dockerfile=docker" \
            "taustack/controller:0.1.0=docker/controller.Dockerfile=."; do
  image=${pair%%=*}; rest=${pair#*=}; dockerfile=${rest%%=*}; context=${rest#*=}
  # the controller image holds this checkout's code: always built (Docker's cache makes an unchanged one instant)
  if [ "$image" != taustack/controller:0.1.0 ] && docker image inspect "$image" >/dev/null 2>&1 \
     && [ "${1:-}" != "--rebuild" ]; then
    echo "[images] present: $image" >&2
  else
    echo "[images] building $image" >&2
    docker build -q -f "$HERE/$dockerfile" -t "$image" "$HERE/$context" >/dev/null
  fi
done
