package dockerapi

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolveInRoot(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc", "tmp", "a/b"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"tmp/abs":  "/etc",
		"tmp/rel":  "../etc",
		"tmp/up":   "../../../../..",
		"a/b/loop": "loop",
		"tmp/last": "/etc/passwd",
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		in         string
		followLast bool
		want       string
		wantErr    bool
	}{
		{in: "/etc/passwd", want: "etc/passwd"},
		{in: "/tmp/abs/hosts", want: "etc/hosts"},
		{in: "/tmp/rel/hosts", want: "etc/hosts"},
		{in: "/tmp/up/etc", want: "etc"},
		{in: "/../../etc", want: "etc"},
		{in: "/tmp/up", followLast: true, want: ""},
		{in: "/tmp/last", want: "tmp/last"},
		{in: "/tmp/last", followLast: true, want: "etc/passwd"},
		{in: "/a/b/loop/x", wantErr: true},
	}
	for _, tc := range tests {
		got, err := resolveInRoot(root, tc.in, tc.followLast)
		if tc.wantErr {
			if err == nil {
				t.Errorf("resolveInRoot(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if want := filepath.Join(root, tc.want); err != nil || got != want {
			t.Errorf("resolveInRoot(%q, %v) = %q, %v; want %q", tc.in, tc.followLast, got, err, want)
		}
	}
}
