#!/usr/bin/env bash
# Base images are made locally, never pulled from a hub (shared/DESIGN.md):
# busybox from Debian's busybox-static, node:slim from the host's Node.js.
# Writes docker-archive-free rootfs tarballs to _out/images/ that tests load
# with `docker import` / `docker load`. Filled in by the engine work.
set -euo pipefail
exit 0
