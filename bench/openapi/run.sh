#!/usr/bin/env bash
# OpenAPI documents: build time and size of each served group-version's v3
# document (with our size over upstream's where client-go embeds upstream's),
# and what the handler keeps in memory against the raw JSON it serves.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
go test -run '^$' -bench 'BenchmarkV3Document|BenchmarkHandlerMemory' -benchtime 3x -benchmem ./internal/apiserver/openapi
