package main

import (
	"context"
	"errors"
)

// runServer runs the control plane until ctx is done: etcd (embedded or
// external), the API server, then, once it serves, startRegistry,
// runControllers and runScheduler with a controlPlane. It calls ready (if
// not nil) with what a local agent needs to join.
func runServer(ctx context.Context, o *serverOptions, ready func(joinInfo)) error {
	return errors.New("berth server: not implemented yet")
}
