// Package nft applies nftables scripts with the nft binary: one script is
// one `nft -f -` run, which the kernel commits as a single transaction, so
// readers never see half a ruleset.
package nft

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// TableName is prefix plus a short hash of the data dir: several berths
// sharing a network namespace (tests) keep apart, and `berth reset` finds
// the tables of a data dir again.
func TableName(prefix, dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return prefix + hex.EncodeToString(sum[:4])
}

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

// Syncer runs a sync function after every Poke, at most once per Interval,
// retrying failures after Retry: the loop both the service proxy and the
// NetworkPolicy enforcer run around their render-and-apply.
type Syncer struct {
	Interval time.Duration
	// Retry is the wait after a failed sync; 0 means one second.
	Retry time.Duration
	Sync  func(ctx context.Context) error
	Log   *slog.Logger
	poked chan struct{}
	once  sync.Once
}

func (s *Syncer) init() { s.once.Do(func() { s.poked = make(chan struct{}, 1) }) }

// Poke asks for a sync; pokes while one is pending merge into it.
func (s *Syncer) Poke() {
	s.init()
	select {
	case s.poked <- struct{}{}:
	default:
	}
}

// Run syncs once at start and after every Poke until ctx is done. The
// first change after a quiet period syncs at once; a burst costs one sync
// per Interval.
func (s *Syncer) Run(ctx context.Context) {
	s.init()
	s.Poke()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.poked:
		case <-retry.C:
		}
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("sync failed, will retry", "err", err)
			retry.Reset(cmp.Or(s.Retry, time.Second))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.Interval):
		}
	}
}
