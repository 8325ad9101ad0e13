package main

import (
	"context"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"
)

// runAgent runs one node until ctx is done: it joins the cluster, opens the
// engine, then runs the Docker API, the kubelet and the service proxy.
func runAgent(ctx context.Context, o *agentOptions) error {
	log := slog.Default().With("role", "agent")
	kube, err := join(ctx, o)
	if err != nil {
		return fmt.Errorf("join %s: %w", o.Server, err)
	}
	eng, err := startEngine(ctx, o, log.With("component", "engine"))
	if err != nil {
		return fmt.Errorf("start engine: %w", err)
	}
	n := &nodeEnv{opts: o, kube: kube, eng: eng, log: log}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return runDockerAPI(ctx, n) })
	g.Go(func() error { return runKubelet(ctx, n) })
	g.Go(func() error { return runProxy(ctx, n) })
	return g.Wait()
}
