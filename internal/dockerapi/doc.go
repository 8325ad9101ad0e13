// Package dockerapi serves the Docker Engine API (the subset the docker CLI
// 28 uses: ping and version negotiation, containers, exec, images, the
// legacy build API, login, push, pull, import, load, save) on top of the
// berth engine. It translates Docker API requests and JSON to engine calls
// and back, nothing more: containers, images and networks are the
// engine's. It must not import client-go or the kubelet.
//
// Semantics follow the Engine API reference (docs.docker.com/reference/api/engine)
// and what docker/cli sends (cli/command/container/run.go, hijack.go).
package dockerapi
