# taustack: `make setup`, `make test`, `make up-ollama GPUS=4`, `make down`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TAUSTACK := $(VENV)/bin/taustack
export DOCKER_BUILDKIT := 0
export COMPOSE_BAKE := false

# Overrides passed through to taustack: STACK=path GPUS=4|all|cpu GPU_IDS=1,3 REPLICAS=2
STACK_ARGS = $(if $(STACK),--stack $(STACK)) $(if $(GPUS),--gpus $(GPUS)) \
             $(if $(GPU_IDS),--gpu-ids $(GPU_IDS)) $(if $(REPLICAS),--replicas $(REPLICAS))
PYTEST_ARGS ?=

.PHONY: help setup docker images-offline images-test test test-unit lint render up up-ollama down status \
        pull clean

help:
	@echo "make setup            .venv with taustack installed (+ Compose plugin check)"
	@echo "make test             unit, golden and Docker integration tests"
	@echo "make up-ollama GPUS=4 Ollama replicas behind nginx on 127.0.0.1:11434 (GPU_IDS=1,3 REPLICAS=2 STACK=...)"
	@echo "make status | down    a row per replica | stop everything"
	@echo "make images-offline   build base images from Debian packages (no registry needed)"
	@echo "make docker           install Docker Engine + Compose (Debian/Ubuntu, as root)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed
	@scripts/install-docker.sh --compose-plugin
	@scripts/install-docker.sh --check || echo "make setup: Docker Engine is needed to run the stack: run 'sudo make docker'"

docker:
	scripts/install-docker.sh

images-offline:
	scripts/images-offline.sh

# Images the Docker tests use: Debian-built base images (when a Docker Engine is running).
images-test:
	@if scripts/install-docker.sh --check 2>/dev/null; then scripts/images-offline.sh; \
	else echo "images-test: no Docker Engine: Docker tests will be skipped"; fi

test: $(VENV)/.installed images-test
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: $(VENV)/.installed
	$(VENV)/bin/pytest -m "not docker" $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy

render: $(VENV)/.installed
	$(TAUSTACK) render $(STACK_ARGS)

up up-ollama: $(VENV)/.installed
	$(TAUSTACK) up --engine ollama $(STACK_ARGS)

down: $(VENV)/.installed
	$(TAUSTACK) down $(STACK_ARGS)

status: $(VENV)/.installed
	$(TAUSTACK) status $(STACK_ARGS)

pull: $(VENV)/.installed
	$(TAUSTACK) pull $(MODEL) $(STACK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
	find compose/generated -mindepth 1 ! -name .gitkeep -delete
