package main

import (
	"context"
	"log/slog"

	"github.com/berth-dev/berth/internal/engine"
)

// startEngine opens the container engine in DATA_DIR. It returns once the
// engine has adopted the containers that survived a restart.
func startEngine(ctx context.Context, o *agentOptions, log *slog.Logger) (*engine.Engine, error) {
	return engine.New(engine.Config{Root: o.DataDir, Log: log})
}
