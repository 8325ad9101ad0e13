// Package engine is berth's container engine: images (store, import, pull,
// push), containers run by runc under a per-container shim, exec, logs. It
// speaks containers and images, never Pods; the kubelet and the Docker API
// are two clients of it. It must not import client-go, the kubelet or
// dockerapi.
package engine

import "log/slog"

// Config configures an Engine.
type Config struct {
	Root string // DATA_DIR; the engine keeps its state under Root/engine
	Log  *slog.Logger
}

// Engine is the container engine of one node.
type Engine struct {
	cfg Config
}

// New opens the engine state under cfg.Root.
func New(cfg Config) (*Engine, error) {
	return &Engine{cfg: cfg}, nil
}
