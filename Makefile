# The two commands a fresh machine needs (README.md):
#   make up     install what is missing, build, run a one-machine cluster
#   make test   install what is missing, build, run every test (unit + whole-cluster)
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
DATA_DIR ?= /var/lib/berth
GO_TEST_FLAGS ?=

.PHONY: build deps up test unit e2e bench fmt vet

deps:
	./scripts/install-deps.sh

build:
	go build -o bin/berth ./cmd/berth

up: deps build
	./bin/berth up --data-dir $(DATA_DIR)

unit:
	go vet ./...
	go test $(GO_TEST_FLAGS) ./...

# Whole-cluster tests need root; each runs `berth up` in a network namespace
# of its own with no route out.
e2e: build
	./scripts/base-images.sh
	BERTH_E2E=1 BERTH_BIN=$(CURDIR)/bin/berth go test $(GO_TEST_FLAGS) -count=1 -timeout 30m -v ./test/e2e/...

test: deps build unit e2e

bench: build
	./bench/run.sh
