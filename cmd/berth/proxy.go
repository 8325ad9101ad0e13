package main

import "context"

// runProxy runs the service proxy (nftables) and cluster DNS until ctx is done.
func runProxy(ctx context.Context, n *nodeEnv) error { return nil }
