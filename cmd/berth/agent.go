package main

import (
	"context"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"

	"github.com/berth-dev/berth/internal/kubelet"
)

// runAgent runs one node until ctx is done: it joins the cluster, opens the
// engine, then runs the Docker API, the kubelet, the service proxy and the
// routes to the other nodes' pods.
// With --simulate N it runs N simulated nodes instead (runSimulatedNodes).
func runAgent(ctx context.Context, o *agentOptions) error {
	log := slog.Default().With("role", "agent")
	if o.Simulate > 0 {
		return runSimulatedNodes(ctx, o, log)
	}
	cn, err := o.clusterNet()
	if err != nil {
		return err
	}
	kube, err := join(ctx, o)
	if err != nil {
		return fmt.Errorf("join %s: %w", o.Server, err)
	}
	eng, err := startEngine(ctx, o, log.With("component", "engine"))
	if err != nil {
		return fmt.Errorf("start engine: %w", err)
	}
	n := &nodeEnv{opts: o, net: cn, kube: kube, eng: eng, log: log}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return runDockerAPI(ctx, n) })
	g.Go(func() error { return runKubelet(ctx, n) })
	g.Go(func() error { return runProxy(ctx, n) })
	g.Go(func() error { return runRoutes(ctx, n) })
	return g.Wait()
}

// runSimulatedNodes joins NAME-sim-0 .. NAME-sim-(N-1), each with its own
// node credentials, and runs them without an engine (like KWOK): they
// report bound pods Running and start nothing.
func runSimulatedNodes(ctx context.Context, o *agentOptions, log *slog.Logger) error {
	base, _ := nodeIdentity(o)
	nodes := make([]kubelet.SimulatedNode, 0, o.Simulate)
	for i := range o.Simulate {
		so := *o
		so.NodeName = fmt.Sprintf("%s-sim-%d", base, i)
		cfg, err := join(ctx, &so)
		if err != nil {
			return fmt.Errorf("join %s as %s: %w", o.Server, so.NodeName, err)
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		nodes = append(nodes, kubelet.SimulatedNode{Name: so.NodeName, Client: client})
	}
	return kubelet.RunSimulated(ctx, nodes[0].Client, nodes, log.With("component", "simulated-nodes"))
}
