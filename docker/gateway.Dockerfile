# The LiteLLM gateway, built here from a pinned litellm[proxy] so it runs without a registry and its version
# is known. prometheus_client is not pulled in by [proxy], and the prometheus callback needs it. prisma (the
# Python client only, no database) because 1.106.2's error handler imports it: without it a request with a
# missing or wrong key answers 500 instead of 401. Versions: requirements/gateway.in; every package, transitive
# ones included, is installed from the hash-pinned requirements/gateway.txt (scripts/lock.sh makes it), with
# --no-deps: the lock is complete, and bookworm's pip 23.0 otherwise resolves `httpx` (wanted by fastapi-sso) apart
# from the lock's `httpx[http2]==0.28.1`, to a newer unpinned httpx, and refuses it in --require-hashes mode;
# `pip check` then proves the lock complete.
#
#   docker build -f docker/gateway.Dockerfile -t taustack/gateway:1.106.2 .
ARG BASE_IMAGE=taustack/python:bookworm
FROM ${BASE_IMAGE}
COPY requirements/gateway.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -q --no-deps --require-hashes --only-binary :all: -r /tmp/requirements.txt \
 && /opt/venv/bin/pip check \
 && rm -rf /root/.cache /tmp/requirements.txt
COPY docker/gateway/taustack_gateway.py /opt/taustack/taustack_gateway.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/taustack \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    PYTHONUNBUFFERED=1
RUN python3 -c "import importlib.metadata as m, litellm, prometheus_client, taustack_gateway; print('litellm', m.version('litellm'))"
EXPOSE 4000
ENTRYPOINT ["litellm"]
CMD ["--config", "/etc/litellm/config.yaml", "--port", "4000"]
