package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"k8s.io/client-go/rest"

	"github.com/berth-dev/berth/internal/auth"
)

// join exchanges the join token for this node's credentials (a client
// certificate for system:node:NAME signed by the cluster CA), retrying
// while the server cannot be reached yet, as k3s's agent does. A refused
// token fails at once.
func join(ctx context.Context, o *agentOptions) (*rest.Config, error) {
	name, _ := nodeIdentity(o)
	for {
		cfg, err := auth.Join(ctx, o.Server, o.Token, name)
		if err == nil {
			return cfg, nil
		}
		var netErr *net.OpError
		if !errors.As(err, &netErr) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(2 * time.Second):
		}
	}
}
