// Package nft applies nftables scripts with the nft binary: one script is
// one `nft -f -` run, which the kernel commits as a single transaction, so
// readers never see half a ruleset.
package nft

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Apply runs script as one transaction in the caller's network namespace.
func Apply(ctx context.Context, script string) error {
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft -f: %w: %s", err, firstLines(out.String(), 10))
	}
	return nil
}

// DeleteTable removes an ip-family table; a missing table is not an error.
func DeleteTable(ctx context.Context, table string) error {
	// "add" first makes the delete succeed whether or not the table exists,
	// in one transaction.
	return Apply(ctx, fmt.Sprintf("add table ip %s\ndelete table ip %s\n", table, table))
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
