#!/usr/bin/env bash
# Service networking benchmarks (docs/BENCHMARKS.md, "Services"):
#  1. proxy sync time for 1k and 10k Services (render + one `nft -f`), in a
#     throwaway network namespace (unshare --net);
#  2. against a real `berth up` in a network namespace of its own (no route
#     out): ready -> traffic latency, requests/s through a ClusterIP vs the
#     pod IP (same run, interleaved), cluster DNS qps and p99.
# Needs root. BERTH_BIN=path uses that berth binary instead of building one. Everything it makes (namespace, data dir, processes) is
# removed on exit, by name and PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin
work=$(mktemp -d /tmp/berth-bench-svc.XXXXXX)
ns=berth-bench-svc-$$
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  # reset runs in the cluster's namespace only: it deletes bridges and tables by name.
  if ip netns list | grep -qw "$ns"; then
    nsenter --net=/run/netns/$ns "$work/berth" reset --data-dir "$work/data" >/dev/null 2>&1 || true
    ip netns del "$ns"
  fi
  grep " $work/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# BERTH_BIN picks a prebuilt binary (e.g. one built from a clean checkout).
if [ -n "${BERTH_BIN:-}" ]; then cp "$BERTH_BIN" "$work/berth"; else go build -o "$work/berth" ./cmd/berth; fi
go build -o "$work/proxysync" ./bench/services/proxysync
go build -o "$work/svcbench" ./bench/services/svcbench

echo "--- proxy sync (render + nft -f, 2 endpoints per Service)"
for n in 1000 10000; do
  BERTH_BENCH_NETNS=1 unshare --net "$work/proxysync" -services "$n"
done

echo "--- cluster (berth up in netns $ns)"
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add node0 type veth peer name node0p
ip -n "$ns" addr add 172.20.0.2/24 dev node0
ip -n "$ns" link set node0 up
ip -n "$ns" link set node0p up
X() { nsenter --net=/run/netns/$ns "$@"; }
export KUBECONFIG=$work/data/kubeconfig DOCKER_HOST=unix://$work/data/docker.sock HOME=$work
# nsenter execs berth, so $! is berth's own PID (a shell function would add a subshell).
nsenter --net=/run/netns/$ns "$work/berth" up --data-dir "$work/data" --node-ip 172.20.0.2 --advertise-address 172.20.0.2 --node-name node1 >"$work/berth.log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -f "$KUBECONFIG" ] && X kubectl get --raw /readyz >/dev/null 2>&1 && break; sleep 0.2; done
./scripts/base-images.sh >/dev/null
X docker load -i _out/images/busybox.tar >/dev/null
X kubectl apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: bench-rdy}
spec:
  replicas: 1
  selector: {matchLabels: {app: bench-rdy}}
  template:
    metadata: {labels: {app: bench-rdy}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && touch /tmp/ready && exec httpd -f -p 8000 -h /www"]
        readinessProbe: {exec: {command: ["test", "-e", "/tmp/ready"]}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: bench-rdy}
spec: {selector: {app: bench-rdy}, ports: [{port: 80, targetPort: 8000}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: bench-http}
spec:
  replicas: 1
  selector: {matchLabels: {app: bench-http}}
  template:
    metadata: {labels: {app: bench-http}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8000 -h /www"]
---
apiVersion: v1
kind: Service
metadata: {name: bench-http}
spec: {selector: {app: bench-http}, ports: [{port: 80, targetPort: 8000}]}
YAML
if ! X kubectl wait --for=condition=Ready pod -l 'app in (bench-rdy,bench-http)' --timeout=120s >/dev/null; then
  X kubectl get pods -o wide; X kubectl get events | tail -20; tail -30 "$work/berth.log"; exit 1
fi
X "$work/svcbench"
