// Package dockerapi serves the Docker Engine API (the subset the docker CLI
// 28 uses: ping and version negotiation, containers, exec, images, the
// legacy build API, login, push, pull, import, load, save) on top of the
// berth engine. It translates Docker API requests and JSON to engine calls
// and back: containers and images are the engine's, builds the builder's
// (internal/engine/build), container networks internal/network's. It must
// not import client-go or the kubelet.
//
// Semantics follow the Engine API reference (docs.docker.com/reference/api/engine)
// and what docker/cli sends (cli/command/container/run.go, hijack.go):
// `docker run` attaches, then waits, then starts, so both attach and wait
// are registered with the engine before their response line goes out.
//
// Networking: a container in the default "bridge" mode gets a sandbox, a
// pinned network namespace on the berth-docker0 bridge (10.88.0.0/16),
// with -p ports published by CNI portmap and reachable at 127.0.0.1:PORT
// and the node address. The sandbox lives from create to remove, so a
// restarted container keeps its address and ports; sandboxes are recorded
// under DATA_DIR/docker/sandboxes and released by remove, by the wait for
// --rm, by a watcher, by the next start of berth, or by `berth reset`.
//
// Login: `docker login` without a server means Docker Hub. berth mirrors
// docker.io to the cluster registry (DATA_DIR/registries.yaml), so POST
// /auth checks Docker Hub logins against the mirror's endpoints: the
// credentials in DATA_DIR/registry-credentials log in, and a later
// `docker push kubetm/hello` lands in the cluster registry. A login with a
// server checks that registry (plain HTTP for loopback addresses).
package dockerapi
