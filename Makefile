# gridshift — the commands a newcomer needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= uv
RUN := $(UV) run --frozen

.PHONY: help install binaries demo demo-down lint test test-unit test-integration test-e2e clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

install: ## create .venv with the locked dependencies (uv.lock)
	$(UV) sync --frozen

binaries: ## build the pinned Kubernetes binaries from the Go module proxy (cached; ~25 min cold)
	bash hack/build-k8s-binaries.sh

demo: install binaries ## three provinces, the operator and an accelerated grid day with a dispatch order, live
	bash hack/install-deps.sh
	$(RUN) gridshift demo

demo-down: ## stop what `make demo` started
	$(RUN) gridshift dev down

lint: install ## ruff, mypy --strict, import contracts
	$(RUN) ruff check orchestrator tests bench
	$(RUN) ruff format --check orchestrator tests bench
	$(RUN) mypy
	$(RUN) lint-imports

test: install binaries ## every test: unit, integration (real fleet + PostgreSQL), e2e
	$(RUN) pytest -m "unit or integration or e2e"

test-unit: install ## the fast tests of pure logic
	$(RUN) pytest -m unit

test-integration: install binaries ## tests against the real local fleet and PostgreSQL
	$(RUN) pytest -m integration

test-e2e: install binaries ## end-to-end tests (clusters from GRIDSHIFT_KUBECONFIGS, or the local fleet)
	$(RUN) pytest -m e2e

clean: ## remove the virtualenv and caches (not the binary cache)
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
