# taustack itself, for services that run the controller's code (the exporter of the monitoring profile).
#   docker build -f docker/controller.Dockerfile -t taustack/controller:0.1.0 .
ARG BASE_IMAGE=taustack/python:bookworm
FROM ${BASE_IMAGE}
COPY pyproject.toml README.md /src/taustack/
COPY src /src/taustack/src
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -q /src/taustack && rm -rf /root/.cache
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
RUN taustack --version
ENTRYPOINT []
CMD ["taustack", "--help"]
