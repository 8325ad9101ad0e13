package main

import "context"

// runControllers runs the controller manager (with leader election) until ctx is done.
func runControllers(ctx context.Context, cp *controlPlane) error { return nil }
