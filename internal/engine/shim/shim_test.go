package shim

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestShouldRestart(t *testing.T) {
	tests := []struct {
		name     string
		policy   string
		max      int
		exit     int
		restarts int
		stopped  bool
		want     bool
	}{
		{"no policy", "no", 0, 1, 0, false, false},
		{"always after success", "always", 0, 0, 5, false, true},
		{"always but stopped by the user", "always", 0, 137, 0, true, false},
		{"unless-stopped", "unless-stopped", 0, 0, 0, false, true},
		{"on-failure after success", "on-failure", 0, 0, 0, false, false},
		{"on-failure unlimited", "on-failure", 0, 1, 100, false, true},
		{"on-failure under the limit", "on-failure", 3, 1, 2, false, true},
		{"on-failure at the limit", "on-failure", 3, 1, 3, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &shim{cfg: Config{Restart: tc.policy, MaxRetries: tc.max}}
			s.state = State{ExitCode: tc.exit, RestartCount: tc.restarts, StopRequested: tc.stopped}
			if got := s.shouldRestartLocked(); got != tc.want {
				t.Errorf("shouldRestart = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStartFailureCode(t *testing.T) {
	for msg, want := range map[string]int{
		`exec: "nope": executable file not found in $PATH`: 127,
		`exec /bin/x: no such file or directory`:           127,
		`exec /etc/passwd: permission denied`:              126,
		`cgroup: something else`:                           128,
	} {
		if got := StartFailureCode(msg); got != want {
			t.Errorf("StartFailureCode(%q) = %d, want %d", msg, got, want)
		}
	}
}

func TestLineSplitter(t *testing.T) {
	var buf bytes.Buffer
	lw := &logWriter{w: &buf}
	s := &lineSplitter{stream: "stdout", log: lw}
	s.Write([]byte("hel"))
	s.Write([]byte("lo\nwor"))
	s.Write([]byte("ld\n\npartial"))
	s.Write([]byte(strings.Repeat("x", maxLogLine)))
	s.flush()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var l LogLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("bad json line %q: %v", line, err)
		}
		if l.Stream != "stdout" || l.Time.IsZero() {
			t.Errorf("line %+v lacks stream or time", l)
		}
		got = append(got, l.Log)
	}
	if len(got) != 5 || got[0] != "hello\n" || got[1] != "world\n" || got[2] != "\n" || len(got[3]) != maxLogLine || got[4] != "x"+"" && len(got[4]) == 0 {
		t.Errorf("lines = %d %q...", len(got), got[:min(3, len(got))])
	}
	if got[3] != "partial"+strings.Repeat("x", maxLogLine-len("partial")) || got[4] != strings.Repeat("x", len("partial")) {
		t.Errorf("long line split wrong: %d / %d bytes", len(got[3]), len(got[4]))
	}
}
