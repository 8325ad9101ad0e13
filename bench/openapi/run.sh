#!/usr/bin/env bash
# OpenAPI documents: build time and size of each served group-version's v3
# document (with our size over upstream's where client-go embeds upstream's),
# and what the handler costs in memory: retained heap against the raw JSON it
# serves, allocations, and process RSS (peak while building, and after).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
pkg=./internal/apiserver/openapi
# Memory first, once, in a process of its own: peak RSS is per process.
go test -run '^$' -bench 'BenchmarkHandlerMemory' -benchtime 1x "$pkg"
go test -run '^$' -bench 'BenchmarkV3Document' -benchtime 3x -benchmem "$pkg"
