# The trainer: TRL SFT and GRPO with LoRA, tau2's core (GRPO's environments), and taustack itself
# (`python -m taustack.trainer.train` and `.grpo`, one code base).
# Versions: requirements/trainer.in; every package comes hash-checked from requirements/trainer.txt (taustack's own
# dependencies included), torch from requirements/trainer-torch.txt (scripts/lock.sh makes both).
#
# GPU (default): a CUDA PyTorch base image; its torch is kept (pip is constrained to it, and it is not hash-checked:
# it is the base image's).
#   docker build -f docker/trainer.Dockerfile -t taustack/trainer:0.1.0 .
# CPU (tests, CI; scripts/images.sh builds it as taustack/trainer:cpu): a Debian Python base, the CPU torch wheel of
# trainer-torch.txt (hash-checked) from a wheel folder in the build context (build/trainer-wheels/, filled by
# scripts/images.sh) or from TORCH_INDEX_URL.
#   docker build -f docker/trainer.Dockerfile --build-arg BASE_IMAGE=taustack/python:bookworm \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu -t taustack/trainer:cpu .
# GPU with vLLM (grpo.use_vllm): VLLM=1 installs requirements/trainer-vllm.txt instead of trainer.txt: vllm==0.31.0
# with the CUDA torch it pins (2.13.0, from PyPI) and transformers 5.17.0 (vLLM 0.31 needs <5.18); on a Python 3.11
# base with glibc >= 2.31 and no torch of its own (the host needs only the NVIDIA driver):
#   docker build -f docker/trainer.Dockerfile --build-arg VLLM=1 --build-arg BASE_IMAGE=python:3.11-slim-bookworm \
#     -t taustack/trainer:0.1.0-vllm .
ARG BASE_IMAGE=pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime
FROM ${BASE_IMAGE}
ARG TORCH_INDEX_URL=
ARG VLLM=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    PIP_CONSTRAINT=/opt/torch-constraint.txt
# the Dockerfile itself is listed so that the COPY has a source when the wheel folder is absent
COPY docker/trainer.Dockerfile build/trainer-wheel[s] /tmp/wheels/
COPY requirements/trainer-torch.txt requirements/trainer.txt requirements/trainer-vllm.txt requirements/eval-tau2.txt \
     requirements/llamacpp-sdist.txt /tmp/requirements/
# torch: VLLM=1: vLLM's pin (trainer-vllm.txt, below); else the base image's (CUDA), else the locked wheel from the
# build context, else from TORCH_INDEX_URL
RUN python3 -m venv --system-site-packages /opt/venv && touch /opt/torch-constraint.txt \
 && if [ "${VLLM}" = 1 ]; then echo "torch: vLLM's pin, from trainer-vllm.txt"; \
    elif /opt/venv/bin/python -c "import torch" 2>/dev/null; then echo "torch from the base image"; \
    elif ls /tmp/wheels/torch-*.whl >/dev/null 2>&1; then \
      /opt/venv/bin/pip install -q --no-deps --require-hashes --no-index --find-links /tmp/wheels \
        -r /tmp/requirements/trainer-torch.txt; \
    elif [ -n "${TORCH_INDEX_URL}" ]; then \
      /opt/venv/bin/pip install -q --no-deps --require-hashes --index-url "${TORCH_INDEX_URL}" \
        -r /tmp/requirements/trainer-torch.txt; \
    else echo "trainer.Dockerfile: no torch in ${BASE_IMAGE}, no wheel in build/trainer-wheels/, no TORCH_INDEX_URL" >&2; \
      exit 1; fi \
 && if [ "${VLLM}" != 1 ]; then /opt/venv/bin/python -c \
      "import importlib.metadata as m; print('torch==' + m.version('torch').split('+')[0])" > /opt/torch-constraint.txt; fi \
 && rm -rf /tmp/wheels
# everything else, torch's own dependencies included; torch itself is already there (VLLM=1: torch too)
RUN if [ "${VLLM}" = 1 ]; then lock=trainer-vllm.txt; else lock=trainer.txt; fi \
 && /opt/venv/bin/pip install -q --require-hashes --only-binary :all: -r /tmp/requirements/$lock
# tau2's core for `taustack train grpo` (its environments, orchestrator and evaluator), with --no-deps as for
# `make setup-eval`: trainer.txt (trainer-vllm.txt) holds what it imports (see trainer.in)
RUN /opt/venv/bin/pip install -q --require-hashes --only-binary :all: --no-deps -r /tmp/requirements/eval-tau2.txt
# llama.cpp's convert_hf_to_gguf.py (with its conversion/ package and gguf-py), from the same llama-cpp-python
# release as the llama.cpp engine image, for `taustack train export --gguf` of architectures beyond Llama
# (fetched and checked against the sha256 of llamacpp-sdist.txt directly: `pip download` of an sdist would build
# its metadata in an isolated environment, installing scikit-build-core from sdists, unhashed)
RUN /opt/venv/bin/python -c "import hashlib, re, urllib.request as u; \
lock = open('/tmp/requirements/llamacpp-sdist.txt').read(); \
version, sha = re.search(r'^llama-cpp-python==(\S+) \\\\\s+--hash=sha256:(\w+)', lock, re.M).groups(); \
page = u.urlopen('https://pypi.org/simple/llama-cpp-python/').read().decode(); \
url = re.search(r'href=\"([^\"]*llama_cpp_python-' + re.escape(version) + r'\.tar\.gz)[#\"]', page).group(1); \
data = u.urlopen(url).read(); assert hashlib.sha256(data).hexdigest() == sha, 'llama-cpp-python sdist: hash mismatch'; \
open('/tmp/llama_cpp_python-' + version + '.tar.gz', 'wb').write(data)" \
 && mkdir -p /tmp/sdist /opt/llama.cpp && tar -xzf /tmp/llama_cpp_python-*.tar.gz -C /tmp/sdist \
 && cd /tmp/sdist/llama_cpp_python-*/vendor/llama.cpp \
 && cp -r convert_hf_to_gguf.py conversion gguf-py /opt/llama.cpp/ && cd / && rm -rf /tmp/sdist /tmp/llama_cpp_python-*.tar.gz
COPY pyproject.toml README.md /src/taustack/
COPY src /src/taustack/src
RUN /opt/venv/bin/pip install -q --no-deps --no-build-isolation /src/taustack \
 && /opt/venv/bin/python -c "import torch, transformers, trl, peft, tau2.gym; print('torch', torch.__version__, 'cuda', torch.version.cuda, '| transformers', transformers.__version__, '| trl', trl.__version__, '| peft', peft.__version__)"
ENV PATH=/opt/venv/bin:$PATH HF_HOME=/cache/huggingface
WORKDIR /work
ENTRYPOINT []
CMD ["python", "-m", "taustack.trainer.train", "--help"]
