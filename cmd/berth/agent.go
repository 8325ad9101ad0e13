package main

import (
	"context"
	"errors"
)

// runAgent runs one node until ctx is done.
func runAgent(ctx context.Context, o *agentOptions) error {
	return errors.New("berth agent: not implemented yet")
}
