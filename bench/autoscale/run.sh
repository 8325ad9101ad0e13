#!/usr/bin/env bash
# Auto scaling on berth: what `kubectl top` costs next to `kubectl get` of the
# same pods (same run, same cluster), how long a new pod takes to show up in
# metrics.k8s.io (floor: two scrapes, 15 s apart), and how long the HPA takes
# from load to SuccessfulRescale (floor: the metrics window plus one HPA
# resync, 15 s each). berth runs in a network namespace of its own.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
N=${N:-20}
work=$(mktemp -d /tmp/berth-bench-autoscale.XXXXXX)
ns=berth-bench-as-$$
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
[ -f _out/images/busybox.tar ] || scripts/base-images.sh >/dev/null
ip netns add $ns
ip -n $ns link set lo up
ip -n $ns link add node0 type veth peer name node0p
ip -n $ns addr add 172.20.0.2/24 dev node0
ip -n $ns link set node0 up
ip -n $ns link set node0p up

in_ns() { nsenter --net=/run/netns/$ns -- env KUBECONFIG="$work/data/kubeconfig" HOME="$work" "$@"; }
nsenter --net=/run/netns/$ns -- "$work/berth" up --data-dir "$work/data" --node-ip 172.20.0.2 \
  --advertise-address 172.20.0.2 --node-name node1 >"$work/berth.log" 2>&1 &
berth_pid=$!
for _ in $(seq 1 300); do
  in_ns kubectl get node node1 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True && break
  sleep 0.2
done
in_ns docker -H "unix://$work/data/docker.sock" load -i _out/images/busybox.tar >/dev/null

now() { date +%s.%N; }
# until_ok SECONDS WHAT CMD...: poll CMD every 0.5 s, give up after SECONDS.
until_ok() {
  local limit=$1 what=$2 start=$SECONDS; shift 2
  until "$@"; do
    if (( SECONDS - start > limit )); then echo "gave up after ${limit} s waiting for $what" >&2; exit 1; fi
    sleep 0.5
  done
}
metrics_count() {
  in_ns kubectl get --raw "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Didle" 2>/dev/null |
    grep -o '"kind":"PodMetrics"' | wc -l
}
all_in_metrics() { [ "$(metrics_count)" -eq "$N" ]; }
scaled_to_3() { [ "$(in_ns kubectl get deployment busy -o 'jsonpath={.spec.replicas}')" = 3 ]; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# N idle pods; time from all Running to all in metrics.k8s.io.
in_ns kubectl apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: idle}
spec:
  replicas: $N
  selector: {matchLabels: {app: idle}}
  template:
    metadata: {labels: {app: idle}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: sleep, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
YAML
in_ns kubectl rollout status deployment idle --timeout=300s >/dev/null
t0=$(now)
until_ok 120 "pod metrics (is metrics.k8s.io served?)" all_in_metrics
echo "$N running pods -> all in metrics.k8s.io: $(secs "$t0" "$(now)") s (floor: 15-30 s, two scrapes)"

# kubectl top pods vs kubectl get pods over the same pods (both include kubectl's start and discovery).
in_ns hyperfine -N -w 3 -r 20 --export-json "$work/top.json" \
  -n "kubectl get pods" "kubectl get pods" -n "kubectl top pods" "kubectl top pods" >/dev/null 2>&1
python3 - "$work/top.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
get, top = r["kubectl get pods"]["median"], r["kubectl top pods"]["median"]
print(f"kubectl get pods: {get*1000:.0f} ms, kubectl top pods: {top*1000:.0f} ms (median of 20), top/get = {top/get:.2f}")
PY
in_ns kubectl delete deployment idle --wait=false >/dev/null

# HPA reaction: a busy pod at 200% of its request against a 50% target.
in_ns kubectl apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: busy}
spec:
  replicas: 1
  selector: {matchLabels: {app: busy}}
  template:
    metadata: {labels: {app: busy}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: loop, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "while :; do :; done"],
         resources: {requests: {cpu: 100m}, limits: {cpu: 200m}}}
YAML
in_ns kubectl rollout status deployment busy --timeout=120s >/dev/null
t0=$(now)
in_ns kubectl autoscale deployment busy --cpu-percent=50 --min=1 --max=3 >/dev/null
until_ok 180 "the HPA to scale busy to 3" scaled_to_3
echo "busy pod running -> HPA scaled to 3: $(secs "$t0" "$(now)") s (floor: ~15-30 s, metrics window + HPA resync)"
in_ns kubectl delete hpa busy >/dev/null
in_ns kubectl delete deployment busy >/dev/null
