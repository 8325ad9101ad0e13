#!/usr/bin/env bash
# Pods on berth, next to the engine's own container start in the same run
# (see bench/pods/main.go): startup p50/p99 over 100 sequential pods, a
# burst of 30, exec round trip, and the idle RSS of `berth up` before and
# after. berth runs in a network namespace of its own (nsenter --net).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
N=${N:-100}
BURST=${BURST:-30}
work=$(mktemp -d /tmp/berth-bench-pods.XXXXXX)
ns=berth-bench-pods-$$
berth_pid=""
cleanup() {
  set +e
  if [ -n "$berth_pid" ]; then kill "$berth_pid"; while kill -0 "$berth_pid" 2>/dev/null; do sleep 0.2; done; fi
  [ -x "$work/berth" ] && nsenter --net=/run/netns/$ns -- "$work/berth" reset --data-dir "$work/data" >/dev/null 2>&1
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l
  ip netns del $ns 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${BERTH_BIN:-}" ]; then cp "$BERTH_BIN" "$work/berth"; else go build -o "$work/berth" ./cmd/berth; fi
go build -o "$work/pods-bench" ./bench/pods
[ -f _out/images/busybox.tar ] || scripts/base-images.sh >/dev/null
ip netns add $ns
ip -n $ns link set lo up
ip -n $ns link add node0 type veth peer name node0p
ip -n $ns addr add 172.20.0.2/24 dev node0
ip -n $ns link set node0 up
ip -n $ns link set node0p up

in_ns() { nsenter --net=/run/netns/$ns -- env KUBECONFIG="$work/data/kubeconfig" "$@"; }
# nsenter execs berth, so $! is berth itself (its RSS is measured below).
nsenter --net=/run/netns/$ns -- "$work/berth" up --data-dir "$work/data" --node-ip 172.20.0.2 \
  --advertise-address 172.20.0.2 --node-name node1 >"$work/berth.log" 2>&1 &
berth_pid=$!
for _ in $(seq 1 300); do
  in_ns kubectl get node node1 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True && break
  sleep 0.2
done
in_ns docker -H "unix://$work/data/docker.sock" load -i _out/images/busybox.tar >/dev/null
sleep 5
rss() { awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' /proc/$berth_pid/status; }
echo "idle RSS of berth up (server + agent, no pods): $(rss)"
in_ns env PATH="$PATH" "$work/pods-bench" -docker-socket "$work/data/docker.sock" -n "$N" -burst "$BURST"
sleep 5
echo "RSS of berth up after the run (pods deleted): $(rss)"
