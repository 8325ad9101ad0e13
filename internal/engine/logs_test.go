package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/engine/shim"
)

func writeLog(t *testing.T, lines []shim.LogLine) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "container.log")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, l := range lines {
		enc.Encode(l)
	}
	f.WriteString(`{"log":"torn`) // a line cut by a crash must not break reading
	return p
}

func TestLogsFromFile(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	p := writeLog(t, []shim.LogLine{
		{Log: "one\n", Stream: "stdout", Time: t0},
		{Log: "err\n", Stream: "stderr", Time: t0.Add(time.Second)},
		{Log: "two\n", Stream: "stdout", Time: t0.Add(2 * time.Second)},
		{Log: "three\n", Stream: "stdout", Time: t0.Add(3 * time.Second)},
	})
	tests := []struct {
		name string
		opts LogOptions
		want string
	}{
		{"all", LogOptions{}, "one,err,two,three"},
		{"tail 2", LogOptions{Tail: 2, TailSet: true}, "two,three"},
		{"tail 0", LogOptions{Tail: 0, TailSet: true}, ""},
		{"since", LogOptions{Since: t0.Add(2 * time.Second)}, "two,three"},
		{"until", LogOptions{Until: t0.Add(time.Second)}, "one,err"},
		{"stderr only", LogOptions{Stderr: true}, "err"},
		{"stdout tail 1", LogOptions{Stdout: true, Tail: 1, TailSet: true}, "three"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := LogsFromFile(context.Background(), p, tc.opts, func(le LogEntry) error {
				got = append(got, strings.TrimSuffix(string(le.Line), "\n"))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("logs(%+v) = %q, want %q", tc.opts, strings.Join(got, ","), tc.want)
			}
		})
	}
}

func TestFollowStopsWhenContainerStops(t *testing.T) {
	p := writeLog(t, []shim.LogLine{{Log: "a\n", Stream: "stdout", Time: time.Now()}})
	alive := true
	n := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := followLog(ctx, p, LogOptions{Follow: true}, func() bool { return alive }, func(le LogEntry) error {
		n++
		if n > 1 {
			return nil
		}
		f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		// Complete the torn line with a newline, then append one more and stop.
		f.WriteString("\"}\n{\"log\":\"b\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-27T10:00:00Z\"}\n")
		f.Close()
		alive = false
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // a and b; the completed torn line has no stream
		t.Errorf("followed %d entries, want 2", n)
	}
}
