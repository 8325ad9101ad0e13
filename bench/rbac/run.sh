#!/usr/bin/env bash
# Service account tokens and RBAC: what authorization adds to a request.
# BenchmarkTokenVerify is the ES256 check per bearer request;
# BenchmarkAllows one RBAC decision against 10 / 1,000 / 10,000
# RoleBindings (the 10-binding case is the baseline the others compare to).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
go test -run '^$' -bench 'BenchmarkTokenVerify' -benchmem ./internal/auth
go test -run '^$' -bench 'BenchmarkAllows' -benchmem ./internal/rbac
