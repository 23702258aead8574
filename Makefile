# dk: the DataKit command line. `make help` lists the targets.

CARGO ?= cargo

.PHONY: help build build-static image demo test lint bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 15

build: ## Build the release binary into bin/dk
	$(CARGO) build --release --locked -p dk-cli
	@mkdir -p bin
	@cp target/release/dk bin/dk
	@echo "built bin/dk; add it to PATH with: export PATH=\$$PATH:$$(pwd)/bin"

# A portable binary: glibc linked statically (the musl target is not installable everywhere).
# The flags apply to the target only, not to build scripts and proc-macros, which stay dynamic.
STATIC_TARGET ?= x86_64-unknown-linux-gnu
STATIC_PROFILE ?= release
build-static: ## Build the portable, statically linked binary into bin/dk-static
	CARGO_TARGET_$(shell echo $(STATIC_TARGET) | tr a-z- A-Z_)_RUSTFLAGS="-C target-feature=+crt-static" \
		$(CARGO) build --profile $(STATIC_PROFILE) --locked -p dk-cli --target $(STATIC_TARGET)
	@mkdir -p bin
	@cp target/$(STATIC_TARGET)/$(subst dev,debug,$(STATIC_PROFILE))/dk bin/dk-static
	@echo "built bin/dk-static"

# The dk container image (Containerfile). ENGINE: podman or docker; BASE: the base image.
ENGINE ?= $(shell command -v podman || command -v docker)
IMAGE ?= localhost/dk:dev
BASE ?= docker.io/library/debian:bookworm-slim
image: build-static ## Build the dk image IMAGE (default localhost/dk:dev) FROM BASE (Debian slim)
	$(ENGINE) build -f Containerfile --build-arg BASE=$(BASE) -t $(IMAGE) .

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
