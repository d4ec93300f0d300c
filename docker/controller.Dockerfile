# taustack itself, for services that run the controller's code (the exporter of the monitoring profile).
# Its dependencies come hash-checked from requirements/controller.txt, then the project with --no-deps.
#   docker build -f docker/controller.Dockerfile -t taustack/controller:0.1.0 .
ARG BASE_IMAGE=taustack/python:bookworm
FROM ${BASE_IMAGE}
COPY requirements/controller.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -q --require-hashes --only-binary :all: -r /tmp/requirements.txt \
 && rm -rf /root/.cache /tmp/requirements.txt
COPY pyproject.toml README.md /src/taustack/
COPY src /src/taustack/src
RUN /opt/venv/bin/pip install -q --no-deps --no-build-isolation /src/taustack && /opt/venv/bin/pip check && rm -rf /root/.cache
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
RUN taustack --version
ENTRYPOINT []
CMD ["taustack", "--help"]
