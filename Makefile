# gridshift — the commands a newcomer needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.9
# the user's uv when there is one (never replaced or upgraded); else the pinned one, installed
# into .tools/ from PyPI by `make uv`
UV ?= $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/uv-$(UV_VERSION)/bin/uv)
RUN := $(UV) run --frozen
export UV_PYTHON_DOWNLOADS ?= never

.PHONY: help uv install binaries vtn image images demo demo-down lint test test-unit test-integration test-e2e clean

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(CURDIR)/.tools/uv-$(UV_VERSION)/bin/uv:
	@echo "uv not found: installing uv $(UV_VERSION) into .tools/ (python3 -m pip, from PyPI)"
	python3 -m pip install --quiet --disable-pip-version-check --target $(CURDIR)/.tools/uv-$(UV_VERSION) "uv==$(UV_VERSION)"

uv: $(UV) ## the pinned uv in .tools/, unless one is on PATH (used as it is)

install: uv ## create .venv with the locked dependencies (uv.lock), installing the pinned uv first if needed
	$(UV) sync --frozen

binaries: ## build the pinned Kubernetes, Traefik and Toxiproxy binaries from the Go module proxy (cached; ~26 min cold)
	bash hack/build-k8s-binaries.sh

vtn: ## build the pinned OpenADR 3.1 VTN (openleadr-vtn) the OpenADR tests run against (cached; ~12 min cold)
	bash hack/build-openadr-vtn.sh

image: install ## the operator image, built without Docker (cached): its archive, size and reference
	bash hack/install-deps.sh >/dev/null
	$(RUN) gridshift dev images --name operator

images: install ## all three images (pause, modelserver, operator), built without Docker (cached)
	bash hack/install-deps.sh >/dev/null
	$(RUN) gridshift dev images

demo: install binaries ## three provinces, the operator and an accelerated grid day with a dispatch order, live (leaves the fleet up)
	bash hack/install-deps.sh
	$(RUN) gridshift demo

demo-down: ## stop what `make demo` started
	$(RUN) gridshift dev down

lint: install ## ruff check, ruff format --check, mypy --strict, import contracts
	$(RUN) ruff check orchestrator tests bench
	$(RUN) ruff format --check orchestrator tests bench
	$(RUN) mypy
	$(RUN) lint-imports

test: install binaries vtn images ## every test: unit, integration (real fleet + PostgreSQL), e2e (builds binaries, the VTN and images first)
	$(RUN) pytest -m "unit or integration or e2e"

test-unit: install ## the fast tests of pure logic (nothing started; under a minute)
	$(RUN) pytest -m unit

test-integration: install binaries vtn images ## tests against the real local fleet and PostgreSQL
	$(RUN) pytest -m integration

test-e2e: install binaries vtn images ## end-to-end tests (clusters from GRIDSHIFT_KUBECONFIGS, or the local fleet)
	$(RUN) pytest -m e2e

clean: ## remove .venv, .tools/ and the linters' and pytest's caches (not the binary or image caches)
	rm -rf .venv .tools .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
