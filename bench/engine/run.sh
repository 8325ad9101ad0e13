#!/usr/bin/env bash
# Engine benchmark (run as root from the repo root after scripts/base-images.sh):
#   bench/engine/run.sh [N]
# 1. engine-bench: runc run /bin/true on a prepared bundle (the floor) vs the
#    engine's create+start+wait+remove of busybox true, interleaved; idle shim RSS.
#    The shim is the berth binary (built here), re-executed as in production.
# 2. With DOCKER_HOST pointing at a running berth: `docker run --rm busybox true`
#    through the Docker API (default bridge network and --network none).
set -euo pipefail
n=${1:-30}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/engine-bench" ./bench/engine
shim=()
if go build -o "$out/berth" ./cmd/berth; then
  shim=(-shim "$out/berth")
else
  echo "(berth does not build right now: the bench binary is the shim)" >&2
fi
"$out/engine-bench" -n "$n" "${shim[@]}"
if [ -n "${DOCKER_HOST:-}" ] && command -v hyperfine >/dev/null; then
  docker image inspect busybox >/dev/null 2>&1 || docker load -i _out/images/busybox.tar >/dev/null
  hyperfine -N --warmup 3 -r "$n" 'docker run --rm busybox true' 'docker run --rm --network none busybox true' \
    2>&1 | grep -E 'Benchmark|Time|Range'
fi
