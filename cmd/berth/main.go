// Command berth is a whole Kubernetes cluster and a Docker-compatible
// container engine in one binary. Roles (see shared/DESIGN.md):
//
//	berth up       server + agent in one process: a one-machine cluster
//	berth server   control plane: etcd, API server, controllers, scheduler, registry
//	berth agent    one node: kubelet, container engine, proxy, DNS, Docker API
//
// Like k3s, this file only declares commands and flags; each role's wiring
// lives in its own file (server.go, agent.go) and behaviour in internal/.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/berth-dev/berth/internal/version"
)

func main() {
	// Re-executed helpers (the per-container shim, ...) dispatch before cobra
	// parses anything, the way k3s's reexec.Register works.
	if reexec() {
		return
	}
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

// reexecHandlers maps argv[1] of a re-executed berth to its entry point.
// Components register theirs from their own file's init.
var reexecHandlers = map[string]func() int{}

func reexec() bool {
	if len(os.Args) < 2 {
		return false
	}
	h, ok := reexecHandlers[os.Args[1]]
	if !ok {
		return false
	}
	os.Exit(h())
	return true
}

func newRootCommand() *cobra.Command {
	var logLevel string
	root := &cobra.Command{
		Use:           "berth",
		Short:         "Kubernetes and a Docker-compatible container engine in one binary",
		SilenceUsage:  true,
		SilenceErrors: false,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			slog.SetDefault(log)
			// client-go and etcd's client log through klog; route it into the
			// same handler so a process's output has one format.
			klog.SetSlogLogger(log.With("component", "client-go"))
			return nil
		},
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", envOr("BERTH_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	root.AddCommand(newVersionCommand(), newUpCommand(), newServerCommand(), newAgentCommand(), newResetCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print berth's version and the Kubernetes and Docker API levels it serves",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "berth %s (kubernetes %s, docker api %s)\n",
				version.Berth, version.KubeGitVersion, version.DockerAPI)
		},
	}
}

// signalContext returns the root context: the first SIGINT/SIGTERM cancels
// it, and stop() restores default handling so a second signal kills the
// process (sample-controller's signals package does the same).
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
