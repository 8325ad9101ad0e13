// Package engine is berth's container engine: an image store (content-
// addressed blobs, unpacked layers used as overlayfs lower dirs, tags),
// import/load/save/pull/push, and containers run by runc under a small
// per-container shim (the berth binary re-executed, see package shim) that
// holds stdio, writes the log file and records the exit, so containers keep
// running while the engine restarts.
//
// The engine speaks containers and images, never Pods or Docker API types:
// the kubelet and the Docker API are two clients of it. It must not import
// client-go, internal/kubelet or internal/dockerapi. Networking is the
// caller's: a container joins a network namespace path the caller prepared.
//
// On-disk layout under DATA_DIR/engine:
//
//	blobs/sha256/<hex>     manifests, configs, compressed layers
//	images.json            image index and tags (written temp + rename)
//	l/<16 hex of diffID>/  an unpacked layer, an overlay lower dir
//	containers/<id>/       meta.json, config.json (OCI bundle), upper/, work/,
//	                       rootfs/ (overlay mount), state.json (shim), container.log,
//	                       netns (bind mount, --network none only), shim.json, shim.log
//	run/<id[:12]>.sock     the shim's control socket
//	runc/                  runc --root
//	trash/                 removed containers whose files are still being deleted
//
// cgroups live under CgroupRoot(DATA_DIR) (/berth-<hash>/<id>) unless the
// caller names a parent. Reset undoes everything on the host for a data dir.
package engine
