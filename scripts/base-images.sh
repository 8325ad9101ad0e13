#!/usr/bin/env bash
# Base images are made locally, never pulled from a hub (shared/DESIGN.md):
#   busybox:latest  Debian's static busybox + applet symlinks + /etc/passwd, /etc/group
#   node:slim       the host's Node.js and the libraries ldd lists, /bin/bash, a few
#                   coreutils, /etc/passwd (installs Debian's nodejs/bash if missing)
# Output: docker-archive tars in _out/images/{busybox,node-slim}.tar for `docker load -i`.
# With DOCKER_HOST set (a running berth), also loads them: scripts/base-images.sh --load
# The tars are reproducible (fixed mtimes and owners), so rebuilding is idempotent;
# an up-to-date tar is not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
out=_out/images
mkdir -p "$out"
load=false
[ "${1:-}" = "--load" ] && load=true

need() { # need CMD PKG: install PKG from Debian if CMD is missing
  command -v "$1" >/dev/null 2>&1 && return
  echo "installing $2" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "$2" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
}
need busybox busybox-static
need bash bash
command -v node >/dev/null 2>&1 || command -v nodejs >/dev/null 2>&1 || need node nodejs

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# write_archive ROOTFS TAG OUT CONFIG_JSON: a docker-archive with one layer.
write_archive() {
  local rootfs=$1 tag=$2 dst=$3 cfg=$4 a="$work/archive"
  rm -rf "$a" && mkdir -p "$a"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
      --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
      -C "$rootfs" -cf "$a/layer.tar" .
  local diff; diff=$(sha256sum "$a/layer.tar" | cut -d' ' -f1)
  mkdir "$a/$diff" && mv "$a/layer.tar" "$a/$diff/layer.tar"
  cat > "$a/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":$cfg,
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/base-images.sh $tag"}]}
JSON
  local cid; cid=$(sha256sum "$a/config.json" | cut -d' ' -f1)
  mv "$a/config.json" "$a/$cid.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$cid" "$tag" "$diff" > "$a/manifest.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$a" -cf "$dst.tmp" manifest.json "$cid.json" "$diff"
  mv "$dst.tmp" "$dst"
  echo "$dst: $tag (sha256:$cid)"
}

base_etc() { # base_etc ROOTFS
  mkdir -p "$1"/{etc,tmp,root,proc,sys,dev,home}
  chmod 1777 "$1/tmp"; chmod 700 "$1/root"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nnode:x:1000:1000::/home/node:/bin/sh\n' > "$1/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\nnode:x:1000:\n' > "$1/etc/group"
}

uptodate() { # uptodate OUT INPUT...: OUT newer than every input and this script
  [ -f "$1" ] || return 1
  local o=$1; shift
  for i in "$@" "$0"; do [ "$o" -nt "$i" ] || return 1; done
}

# --- busybox:latest
bb=$(readlink -f "$(command -v busybox)")
if ! uptodate "$out/busybox.tar" "$bb"; then
  r="$work/busybox"; mkdir -p "$r/bin"
  base_etc "$r"
  cp "$bb" "$r/bin/busybox"
  for app in $("$bb" --list); do
    [ "$app" = busybox ] || ln -sf busybox "$r/bin/$app"
  done
  write_archive "$r" busybox:latest "$out/busybox.tar" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]}'
fi

# --- node:slim
nodebin=$(readlink -f "$(command -v node || command -v nodejs)")
if ! uptodate "$out/node-slim.tar" "$nodebin"; then
  r="$work/node"; mkdir -p "$r/usr/local/bin" "$r/bin" "$r/usr/bin"
  base_etc "$r"
  sed -i 's|:/root:/bin/sh|:/root:/bin/bash|' "$r/etc/passwd"
  cp "$nodebin" "$r/usr/local/bin/node"
  tools=(bash sh ls cat echo env mkdir rm cp mv sleep true false id ps head tail grep sed wc touch ln chmod uname date)
  bins=("$nodebin")
  for t in "${tools[@]}"; do
    p=$(type -P "$t" 2>/dev/null) || continue
    p=$(readlink -f "$p")
    [ "$t" = sh ] && { ln -sf bash "$r/bin/sh"; continue; }
    cp "$p" "$r/bin/$t"
    bins+=("$p")
  done
  # ps reads /proc through libprocps; ldd lists every library each binary needs.
  for b in "${bins[@]}"; do
    ldd "$b" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
      [ -e "$lib" ] || continue
      mkdir -p "$r$(dirname "$lib")"
      cp -L "$lib" "$r$lib"
    done
  done
  write_archive "$r" node:slim "$out/node-slim.tar" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NODE_VERSION='"$("$nodebin" --version | tr -d v)"'"],"Cmd":["node"]}'
fi

if $load; then
  for t in "$out/busybox.tar" "$out/node-slim.tar"; do docker load -i "$t"; done
fi
