# The trainer: TRL SFT with LoRA, plus taustack itself (`python -m taustack.trainer.train`, one code base).
#
# GPU (default): a CUDA PyTorch base image; its torch is kept (pip is constrained to it).
#   docker build -f docker/trainer.Dockerfile -t taustack/trainer:0.1.0 .
# CPU (tests, CI; scripts/images.sh builds it as taustack/trainer:cpu): a Debian Python base, torch from a wheel
# folder in the build context (build/trainer-wheels/, filled by scripts/images.sh) or from TORCH_INDEX_URL.
#   docker build -f docker/trainer.Dockerfile --build-arg BASE_IMAGE=taustack/python:bookworm \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu -t taustack/trainer:cpu .
ARG BASE_IMAGE=pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime
FROM ${BASE_IMAGE}
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=
ARG TRANSFORMERS_VERSION=5.23.0
ARG TRL_VERSION=1.16.0
ARG PEFT_VERSION=0.21.2
ARG DATASETS_VERSION=5.2.0
ARG ACCELERATE_VERSION=1.15.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    PIP_CONSTRAINT=/opt/torch-constraint.txt
# the Dockerfile itself is listed so that the COPY has a source when the wheel folder is absent
COPY docker/trainer.Dockerfile build/trainer-wheel[s] /tmp/wheels/
# torch: the base image's (CUDA), else a wheel from the build context, else TORCH_INDEX_URL
RUN python3 -m venv --system-site-packages /opt/venv && touch /opt/torch-constraint.txt \
 && if /opt/venv/bin/python -c "import torch" 2>/dev/null; then echo "torch from the base image"; \
    elif ls /tmp/wheels/torch-${TORCH_VERSION}*.whl >/dev/null 2>&1; then \
      /opt/venv/bin/pip install -q /tmp/wheels/torch-${TORCH_VERSION}*.whl; \
    elif [ -n "${TORCH_INDEX_URL}" ]; then \
      /opt/venv/bin/pip install -q "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}" \
        --extra-index-url https://pypi.org/simple; \
    else echo "trainer.Dockerfile: no torch in ${BASE_IMAGE}, no build/trainer-wheels/torch-${TORCH_VERSION}*.whl," \
              "no TORCH_INDEX_URL" >&2; exit 1; fi \
 && /opt/venv/bin/python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > /opt/torch-constraint.txt \
 && rm -rf /tmp/wheels
RUN /opt/venv/bin/pip install -q "transformers==${TRANSFORMERS_VERSION}" "trl==${TRL_VERSION}" \
      "peft==${PEFT_VERSION}" "datasets==${DATASETS_VERSION}" "accelerate==${ACCELERATE_VERSION}"
# llama.cpp's convert_hf_to_gguf.py (with its conversion/ package and gguf-py), from the same llama-cpp-python
# release as the llama.cpp engine image, for `taustack train export --gguf` of architectures beyond Llama
ARG LLAMA_CPP_PYTHON_VERSION=0.3.36
RUN /opt/venv/bin/python -c "import re, urllib.request as u; \
page = u.urlopen('https://pypi.org/simple/llama-cpp-python/').read().decode(); \
url = re.search(r'href=\"([^\"]*llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}\.tar\.gz[^\"]*)\"', page).group(1); \
u.urlretrieve(url.replace('&amp;', '&'), '/tmp/llama-cpp-python.tar.gz')" \
 && mkdir -p /tmp/sdist /opt/llama.cpp && tar -xzf /tmp/llama-cpp-python.tar.gz -C /tmp/sdist \
 && cd /tmp/sdist/llama_cpp_python-*/vendor/llama.cpp \
 && cp -r convert_hf_to_gguf.py conversion gguf-py /opt/llama.cpp/ && cd / && rm -rf /tmp/sdist /tmp/llama-cpp-python.tar.gz \
 && /opt/venv/bin/pip install -q sentencepiece "protobuf>=4.21,<5"
COPY pyproject.toml README.md /src/taustack/
COPY src /src/taustack/src
RUN /opt/venv/bin/pip install -q /src/taustack \
 && /opt/venv/bin/python -c "import torch, transformers, trl, peft; print('torch', torch.__version__, 'cuda', torch.version.cuda, '| transformers', transformers.__version__, '| trl', trl.__version__, '| peft', peft.__version__)"
ENV PATH=/opt/venv/bin:$PATH HF_HOME=/cache/huggingface
WORKDIR /work
ENTRYPOINT []
CMD ["python", "-m", "taustack.trainer.train", "--help"]
