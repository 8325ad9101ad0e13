package main

import "context"

// runDockerAPI serves the Docker Engine API on unix://DATA_DIR/docker.sock until ctx is done.
func runDockerAPI(ctx context.Context, n *nodeEnv) error { return nil }
