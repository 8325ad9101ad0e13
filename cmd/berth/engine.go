package main

import (
	"context"
	"log/slog"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/shim"
)

func init() {
	// `berth __shim DIR` is the per-container shim (see package shim).
	reexecHandlers[engine.ShimArg] = shim.Main
	registerReset("engine", engine.Reset)
}

// startEngine opens the container engine in DATA_DIR. It returns once the
// engine has adopted the containers that survived a restart.
func startEngine(ctx context.Context, o *agentOptions, log *slog.Logger) (*engine.Engine, error) {
	return engine.New(engine.Config{Root: o.DataDir, Log: log})
}
