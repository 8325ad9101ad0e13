package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// resetStep undoes what one component made on this host for a data dir.
type resetStep struct {
	name string
	run  func(ctx context.Context, dataDir string) error
}

// resetSteps run in the order components register them from their own
// file's init, which Go runs in file name order: docker-network, engine
// (which kills every container, so the steps after it find nothing running
// in the cgroups, namespaces and mounts they remove), kubelet, proxy,
// routes. Each step tolerates what an earlier one already removed.
var resetSteps []resetStep

func registerReset(name string, run func(ctx context.Context, dataDir string) error) {
	resetSteps = append(resetSteps, resetStep{name, run})
}

// newResetCommand is k3s-killall.sh as a command: containers outlive berth on
// purpose, so tearing a node down needs its own step. It keeps DATA_DIR's
// state (etcd, images, certificates) and removes only what runs or is mounted.
func newResetCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Stop every container and remove the mounts, cgroups, interfaces and nftables rules berth made for a data dir",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			for _, s := range resetSteps {
				if err := s.run(cmd.Context(), dataDir); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", envOr("BERTH_DATA_DIR", "/var/lib/berth"), "data dir of the berth to reset")
	return cmd
}
