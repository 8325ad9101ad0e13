package nft

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestSyncerRetriesAndMergesPokes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var calls int
	var s *Syncer
	s = &Syncer{Interval: time.Millisecond, Retry: time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Sync: func(context.Context) error {
		calls++
		switch calls {
		case 1:
			// Three pokes during a sync merge into one more sync.
			s.Poke()
			s.Poke()
			s.Poke()
		case 2:
			return errors.New("nft failed") // retried without a poke
		case 3:
			cancel()
		}
		return nil
	}}
	s.Run(ctx)
	if calls != 3 {
		t.Fatalf("Sync ran %d times, want 3 (start, merged pokes, retry)", calls)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("Run did not stop when ctx was canceled")
	}
}

func TestTableName(t *testing.T) {
	a, b := TableName("berth-svc-", "/var/lib/berth"), TableName("berth-svc-", "/var/lib/berth/")
	if a != b {
		t.Errorf("TableName differs for the same dir: %q vs %q", a, b)
	}
	if c := TableName("berth-svc-", "/tmp/other"); c == a || len(c) != len("berth-svc-")+8 {
		t.Errorf("TableName(/tmp/other) = %q (vs %q)", c, a)
	}
}
