#!/usr/bin/env bash
# Workload controllers on berth with simulated nodes (see
# bench/controllers/main.go): a Deployment scaled 0 -> N and a rolling
# update of N pods, next to N bare pods in the same run. `berth server`
# and `berth agent --simulate NODES` run in a network namespace of their
# own (nsenter --net); no container starts.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
N=${N:-100}
NODES=${NODES:-10}
work=$(mktemp -d /tmp/berth-bench-controllers.XXXXXX)
ns=berth-bench-ctrl-$$
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p"; done
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
  ip netns del $ns 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

if [ -n "${BERTH_BIN:-}" ]; then cp "$BERTH_BIN" "$work/berth"; else go build -o "$work/berth" ./cmd/berth; fi
go build -o "$work/controllers-bench" ./bench/controllers
ip netns add $ns
ip -n $ns link set lo up
ip -n $ns link add node0 type veth peer name node0p
ip -n $ns addr add 172.20.0.2/24 dev node0
ip -n $ns link set node0 up
ip -n $ns link set node0p up

in_ns() { nsenter --net=/run/netns/$ns -- env KUBECONFIG="$work/server/kubeconfig" "$@"; }
nsenter --net=/run/netns/$ns -- "$work/berth" server --data-dir "$work/server" --advertise-address 172.20.0.2 \
  >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do [ -s "$work/server/token" ] && in_ns kubectl get ns default >/dev/null 2>&1 && break; sleep 0.2; done
nsenter --net=/run/netns/$ns -- "$work/berth" agent --data-dir "$work/agent" --server https://172.20.0.2:6443 \
  --token "$(cat "$work/server/token")" --node-name bench --simulate "$NODES" >"$work/agent.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 600); do
  [ "$(in_ns kubectl get nodes -l berth.dev/simulated -o name 2>/dev/null | wc -l)" -ge "$NODES" ] && break
  sleep 0.2
done
have=$(in_ns kubectl get nodes -l berth.dev/simulated -o name | wc -l)
if [ "$have" -lt "$NODES" ]; then
  echo "only $have of $NODES simulated nodes registered; agent log:" >&2
  tail -n 20 "$work/agent.log" >&2
  exit 1
fi
echo "simulated nodes: $have"
in_ns "$work/controllers-bench" -n "$N"
