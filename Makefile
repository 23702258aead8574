# dk: the DataKit command line. `make help` lists the targets.

CARGO ?= cargo

.PHONY: help build demo test lint bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

build: ## Build the release binary into bin/dk
	$(CARGO) build --release --locked -p dk-cli
	@mkdir -p bin
	@cp target/release/dk bin/dk
	@echo "built bin/dk; add it to PATH with: export PATH=\$$PATH:$$(pwd)/bin"

demo: build ## Walk a sample package through every lifecycle step built so far (nothing to install)
	@scripts/demo bin/dk

test: ## Run every check CI runs: formatting, lints, all tests
	scripts/test

lint: ## Formatting and clippy only
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

bench: ## Benchmarks: lint of 1,000 packages, dk run overhead, lineage, build and publish of 1 GiB
	scripts/bench lint
	scripts/bench run
	scripts/bench lineage
	scripts/bench build
	scripts/bench publish
	$(CARGO) bench -p dk-lineage

clean: ## Remove build output
	$(CARGO) clean
	rm -rf bin .bench
