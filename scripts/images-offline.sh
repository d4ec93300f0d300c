#!/usr/bin/env bash
# images-offline.sh: build taustack's base images from Debian packages, for hosts that cannot reach a
# container registry (air-gapped clusters, this project's CI). Needs root (mmdebstrap) and a Debian mirror.
#
#   taustack/base:bookworm     Debian 12 + python3.11, pip, venv, curl, ca-certificates, nginx-light
#   taustack/python:bookworm   the base, CMD python3 (pip install works at build time)
#   taustack/nginx:bookworm    the base, CMD nginx -g 'daemon off;' (use as balancer.image)
#
# The images are cached as a tarball (docker save) and loaded from it next time.
# Usage: scripts/images-offline.sh [--rebuild] [--prefer-registry]
#   --prefer-registry: first try `FROM debian:bookworm-slim` (no root needed) when a registry is reachable,
#                      and fall back to mmdebstrap when it is not
# Env:   TAUSTACK_CACHE_DIR (default /var/cache/taustack)   DEBIAN_MIRROR (default http://deb.debian.org/debian)
#        EXTRA_CA_CERTS: a .crt file or a folder of them to trust inside the images (TLS-inspecting proxies);
#                        /usr/local/share/ca-certificates/*.crt of this host are always copied in
set -euo pipefail

CACHE_DIR=${TAUSTACK_CACHE_DIR:-/var/cache/taustack}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
EXTRA_CA_CERTS=${EXTRA_CA_CERTS:-}
TARBALL="$CACHE_DIR/offline-images.tar"
IMAGES=(taustack/base:bookworm taustack/python:bookworm taustack/nginx:bookworm)
HERE=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive DOCKER_BUILDKIT=0
say() { echo "[images-offline] $*" >&2; }
have_images() { docker image inspect "${IMAGES[@]}" >/dev/null 2>&1; }

REBUILD=0 PREFER_REGISTRY=0
for arg in "$@"; do
  case "$arg" in
    --rebuild) REBUILD=1 ;;
    --prefer-registry) PREFER_REGISTRY=1 ;;
    *) say "unknown option $arg"; exit 2 ;;
  esac
done
if [ $REBUILD = 1 ]; then docker rmi -f "${IMAGES[@]}" >/dev/null 2>&1 || true; rm -f "$TARBALL"; fi
if have_images; then say "present: ${IMAGES[*]}"; exit 0; fi
if [ -s "$TARBALL" ]; then
  say "loading $TARBALL"
  docker load -q -i "$TARBALL" >/dev/null || say "cache unreadable; rebuilding"
  if have_images; then exit 0; fi
fi

certs=$(mktemp -d)
trap 'rm -rf "$certs"' EXIT
cp /usr/local/share/ca-certificates/*.crt "$certs/" 2>/dev/null || true
if [ -n "$EXTRA_CA_CERTS" ]; then
  if [ -d "$EXTRA_CA_CERTS" ]; then cp "$EXTRA_CA_CERTS"/*.crt "$certs/"; else cp "$EXTRA_CA_CERTS" "$certs/"; fi
fi

if [ $PREFER_REGISTRY = 1 ] && ! docker image inspect taustack/base:bookworm >/dev/null 2>&1; then
  if docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
    say "building taustack/base:bookworm FROM debian:bookworm-slim"
    cp "$HERE/docker/offline/base.Dockerfile" "$certs/Dockerfile"
    docker build -q -t taustack/base:bookworm "$certs" >/dev/null
  else
    say "no registry reachable: building from Debian packages with mmdebstrap instead"
  fi
fi
if ! docker image inspect taustack/base:bookworm >/dev/null 2>&1; then
  if ! command -v mmdebstrap >/dev/null; then
    [ "$(id -u)" = 0 ] || { say "mmdebstrap is missing: run as root, or: sudo apt-get install mmdebstrap"; exit 1; }
    say "installing mmdebstrap"
    apt-get install -y --no-install-recommends mmdebstrap >/dev/null \
      || { apt-get update -qq && apt-get install -y --no-install-recommends mmdebstrap >/dev/null; }
  fi
  say "building taustack/base:bookworm from Debian packages (mmdebstrap | docker import)"
  mmdebstrap --variant=apt --quiet \
    --include=usr-is-merged,python3,python3-venv,python3-pip,ca-certificates,curl,nginx-light \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="cp $certs/*.crt \"\$1/usr/local/share/ca-certificates/\" 2>/dev/null || true" \
    --customize-hook='chroot "$1" update-ca-certificates >/dev/null 2>&1' \
    --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED; ln -sf python3 "$1/usr/bin/python"' \
    --customize-hook='rm -f "$1/etc/nginx/sites-enabled/default"; ln -sf /dev/stdout "$1/var/log/nginx/access.log"; ln -sf /dev/stderr "$1/var/log/nginx/error.log"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    bookworm - "$DEBIAN_MIRROR" \
  | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
    --change 'ENV PIP_ROOT_USER_ACTION=ignore' \
    --change 'CMD ["bash"]' - taustack/base:bookworm >/dev/null
fi
say "building taustack/python:bookworm and taustack/nginx:bookworm"
docker build -q -f "$HERE/docker/offline/python.Dockerfile" -t taustack/python:bookworm "$HERE/docker/offline" >/dev/null
docker build -q -f "$HERE/docker/offline/nginx.Dockerfile" -t taustack/nginx:bookworm "$HERE/docker/offline" >/dev/null
mkdir -p "$CACHE_DIR"
docker save -o "$TARBALL.tmp" "${IMAGES[@]}" && mv "$TARBALL.tmp" "$TARBALL"
say "ready: ${IMAGES[*]} (cached in $TARBALL)"
