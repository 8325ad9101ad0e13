package main

import (
	"context"
	"fmt"
	"path/filepath"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/berth-dev/berth/internal/network/hostgw"
)

func init() {
	registerReset("routes", func(ctx context.Context, dataDir string) error {
		return hostgw.Reset(ctx, routesStateDir(dataDir))
	})
}

// routesStateDir is where the route controller records the forwarding
// values it changed, for reset.
func routesStateDir(dataDir string) string { return filepath.Join(dataDir, "hostgw") }

// runRoutes keeps this node's routes to the other nodes' pod CIDRs
// (host-gw) until ctx is done, with the node's own credentials (nodes may
// list and watch Nodes).
func runRoutes(ctx context.Context, n *nodeEnv) error {
	kube, err := kubernetes.NewForConfig(n.kube)
	if err != nil {
		return fmt.Errorf("routes client: %w", err)
	}
	name, _ := nodeIdentity(n.opts)
	factory := informers.NewSharedInformerFactory(kube, 0)
	c, err := hostgw.New(hostgw.Config{
		NodeName:    name,
		ClusterCIDR: n.net.ClusterCIDR,
		StateDir:    routesStateDir(n.opts.DataDir),
		Log:         n.log.With("component", "routes"),
	}, factory)
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	return c.Run(ctx)
}
