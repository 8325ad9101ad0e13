package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

func newServerCommand() *cobra.Command {
	var o serverOptions
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: etcd, API server, controllers, scheduler, image registry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			return ignoreCanceled(ctx, runServer(ctx, &o, nil))
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func newAgentCommand() *cobra.Command {
	var o agentOptions
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run one node: kubelet, container engine, service proxy, DNS, Docker API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Server == "" || o.Token == "" {
				return errors.New("--server and --token are required")
			}
			ctx, stop := signalContext()
			defer stop()
			return ignoreCanceled(ctx, runAgent(ctx, &o))
		},
	}
	o.addFlags(cmd.Flags(), true)
	return cmd
}

// newUpCommand runs the server and an agent in one process. As in k3s, the
// local agent joins through the server's HTTPS address with a token, taking
// the same path a remote node would.
func newUpCommand() *cobra.Command {
	var so serverOptions
	var ao agentOptions
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a one-machine cluster: server and agent in one process",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			g, ctx := errgroup.WithContext(ctx)
			join := make(chan joinInfo, 1)
			g.Go(func() error {
				return runServer(ctx, &so, func(j joinInfo) { join <- j })
			})
			g.Go(func() error {
				select {
				case <-ctx.Done():
					return nil
				case j := <-join:
					ao.DataDir, ao.Server, ao.Token = so.DataDir, j.URL, j.Token
					ao.ClusterCIDR, ao.ServiceCIDR, ao.ClusterDNS = so.ClusterCIDR, so.ServiceCIDR, so.ClusterDNS
					printWelcome(cmd, &so, j)
					return runAgent(ctx, &ao)
				}
			})
			return ignoreCanceled(ctx, g.Wait())
		},
	}
	so.addFlags(cmd.Flags())
	ao.addFlags(cmd.Flags(), false)
	return cmd
}

// joinInfo is what an agent needs to join a running server.
type joinInfo struct {
	URL   string // https://ADDR:PORT of the API server
	Token string
	// Registry is the cluster image registry; Addr is "" if none.
	Registry registryInfo
}

func printWelcome(cmd *cobra.Command, o *serverOptions, j joinInfo) {
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, "berth is up.\n  export KUBECONFIG=%s/kubeconfig\n  export DOCKER_HOST=unix://%s/docker.sock\n", o.DataDir, o.DataDir)
	if r := j.Registry; r.Addr != "" {
		fmt.Fprintf(w, "  registry: %s  (docker login -u %s -p %s; also in %s/registry-credentials)\n", r.Addr, r.Username, r.Password, o.DataDir)
	}
}

// ignoreCanceled turns the error of a clean shutdown into nil.
func ignoreCanceled(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
