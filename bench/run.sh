#!/usr/bin/env bash
# Runs every benchmark suite in bench/*/run.sh (each prints its own figures
# beside the floor it measured in the same run).
set -euo pipefail
cd "$(dirname "$0")"
for s in */run.sh; do
  echo "=== ${s%/run.sh}"
  "./$s"
done
