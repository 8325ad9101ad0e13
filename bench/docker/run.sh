#!/usr/bin/env bash
# Docker API through berth, next to the runc floor and (where Debian's
# docker.io is installed) dockerd, all in one run, interleaved by hyperfine:
#   runc run /bin/true on a prepared bundle        (the floor)
#   docker run --rm busybox true
#   docker run -d busybox sleep + docker rm -f
#   docker build --no-cache (cold) and cached, legacy builder
#   idle RSS: berth (whole `berth up`: API server, etcd, controllers, engine)
#             vs dockerd + containerd
# Every daemon runs in a network namespace of its own (nsenter --net), so
# nothing it does reaches the host's network. Prints medians and ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
RUNS=${RUNS:-20}
work=$(mktemp -d /tmp/berth-bench-docker.XXXXXX)
ns=berth-bench-docker-$$
pids=()
made_dirs=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
  [ -x "$work/berth" ] && nsenter --net=/run/netns/$ns -- "$work/berth" reset --data-dir "$work/berth-data" >/dev/null 2>&1
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l
  ip netns del $ns 2>/dev/null
  for d in /sys/fs/cgroup/*/bench-docker-$$; do rmdir "$d" 2>/dev/null; done
  # dockerd and its containerd leave these behind (MACHINE-NOTES item 11)
  for d in "${made_dirs[@]}"; do rm -rf "$d"; done
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/berth" ./cmd/berth
[ -f _out/images/busybox.tar ] || scripts/base-images.sh >/dev/null
ip netns add $ns
ip -n $ns link set lo up

# The floor: runc on a busybox bundle, as MACHINE-NOTES §3.
mkdir -p "$work/bundle/rootfs"
tar -xf _out/images/busybox.tar -C "$work" --wildcards '*/layer.tar' manifest.json
tar -xf "$work"/*/layer.tar -C "$work/bundle/rootfs"
(cd "$work/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' config.json)
floor="runc --root $work/runc run -b $work/bundle bench-floor"

# berth
nsenter --net=/run/netns/$ns -- "$work/berth" up --data-dir "$work/berth-data" --registry-port 5999 \
  --https-port 6999 >"$work/berth.log" 2>&1 &
pids+=($!)
berth_pid=$!
B="docker -H unix://$work/berth-data/docker.sock"
for _ in $(seq 1 300); do $B version >/dev/null 2>&1 && break; sleep 0.2; done
$B load -i _out/images/busybox.tar >/dev/null

# dockerd, if installed: its own data root, no iptables, in the same namespace.
D=""
if command -v dockerd >/dev/null; then
  for d in /var/run/docker /run/containerd; do [ -e "$d" ] || made_dirs+=("$d"); done
  nsenter --net=/run/netns/$ns -- setsid dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" \
    --pidfile "$work/dockerd.pid" --cgroup-parent /bench-docker-$$ --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --host "unix://$work/dockerd.sock" >"$work/dockerd.log" 2>&1 &
  pids+=($!)
  dockerd_pid=$!
  D="docker -H unix://$work/dockerd.sock"
  for _ in $(seq 1 300); do $D version >/dev/null 2>&1 && break; sleep 0.2; done
  $D load -i _out/images/busybox.tar >/dev/null
fi

ctx="$work/ctx"; mkdir -p "$ctx"
printf 'FROM busybox\nCOPY file /file\nRUN echo built > /built\nCMD ["cat", "/built"]\n' > "$ctx/Dockerfile"
echo data > "$ctx/file"

sleep 5 # idle: let start-up work settle before reading RSS
rss() { # rss PID...: total RSS in MiB of the processes and their descendants
  local all="$*" kids
  for p in "$@"; do kids=$(pgrep -P "$p" | tr '\n' ' '); [ -n "$kids" ] && all="$all $(rss_pids $kids)"; done
  echo "$all"
}
rss_pids() { local out="$*"; for p in "$@"; do local k; k=$(pgrep -P "$p" | tr '\n' ' '); [ -n "$k" ] && out="$out $(rss_pids $k)"; done; echo "$out"; }
mib() { local s=0; for p in "$@"; do s=$((s + $(awk '/VmRSS/{print $2}' /proc/$p/status 2>/dev/null || echo 0))); done; echo $((s / 1024)); }
berth_rss=$(mib $(rss_pids $berth_pid))
docker_rss=""
[ -n "$D" ] && docker_rss=$(mib $(rss_pids $(cat "$work/dockerd.pid")))

cmds=(-n floor "$floor")
cmds+=(-n berth-run-rm "$B run --rm busybox true")
[ -n "$D" ] && cmds+=(-n dockerd-run-rm "$D run --rm busybox true")
cmds+=(-n berth-run-d-rm-f "sh -c '$B rm -f \$($B run -d busybox sleep 100)'")
[ -n "$D" ] && cmds+=(-n dockerd-run-d-rm-f "sh -c '$D rm -f \$($D run -d busybox sleep 100)'")
cmds+=(-n berth-build-cold "$B build -q --no-cache $ctx")
[ -n "$D" ] && cmds+=(-n dockerd-build-cold "env DOCKER_BUILDKIT=0 $D build -q --no-cache $ctx")
cmds+=(-n berth-build-cached "$B build -q $ctx")
[ -n "$D" ] && cmds+=(-n dockerd-build-cached "env DOCKER_BUILDKIT=0 $D build -q $ctx")

hyperfine -N --warmup 3 --runs "$RUNS" --style basic --export-json "$work/h.json" "${cmds[@]}" >/dev/null 2>"$work/hyperfine.err" || {
  cat "$work/hyperfine.err"; exit 1; }

python3 - "$work/h.json" "$berth_rss" "${docker_rss:-}" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] * 1000 for k, v in res.items()}
floor = med["floor"]
print(f"{'operation':<22} {'median ms':>10} {'x floor':>8} {'dockerd/berth':>14}")
for name in ["floor", "run-rm", "run-d-rm-f", "build-cold", "build-cached"]:
    if name == "floor":
        print(f"{'runc run /bin/true':<22} {floor:>10.1f} {1:>8.1f}")
        continue
    b, d = med.get("berth-" + name), med.get("dockerd-" + name)
    ratio = f"{d / b:>14.2f}" if d else f"{'-':>14}"
    print(f"{'berth ' + name:<22} {b:>10.1f} {b / floor:>8.1f} {ratio}")
    if d:
        print(f"{'dockerd ' + name:<22} {d:>10.1f} {d / floor:>8.1f}")
brss, drss = sys.argv[2], sys.argv[3]
line = f"idle RSS: berth up (whole cluster) {brss} MiB"
if drss:
    line += f", dockerd+containerd {drss} MiB, ratio {int(brss) / int(drss):.2f}"
print(line)
PY
