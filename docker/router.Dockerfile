# The session-aware router (vllm-project/router, Rust, Apache-2.0) that nginx puts in front of an engine group's
# replicas for requests with an X-Session-ID (`balancer.affinity: router`): sticky_least_loaded sends a new session
# to the replica with the fewest active sessions and keeps it there. Built here from its PyPI wheel, every package
# hash-pinned in requirements/router.txt (scripts/lock.sh), --no-deps because the lock is complete; `pip check`
# proves it.
#
#   docker build -f docker/router.Dockerfile -t taustack/router:0.1.17 .
ARG BASE_IMAGE=taustack/python:bookworm
FROM ${BASE_IMAGE}
COPY requirements/router.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -q --no-deps --require-hashes --only-binary :all: -r /tmp/requirements.txt \
 && /opt/venv/bin/pip check \
 && rm -rf /root/.cache /tmp/requirements.txt
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1
RUN python3 -c "import importlib.metadata as m, vllm_router_rs; print('vllm-router', m.version('vllm-router'))"
USER nobody
ENTRYPOINT ["vllm-router"]
