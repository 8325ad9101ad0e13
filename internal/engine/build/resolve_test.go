package build

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
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
		got, err := ResolveInRoot(root, tc.in, tc.followLast)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ResolveInRoot(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if want := filepath.Join(root, tc.want); err != nil || got != want {
			t.Errorf("ResolveInRoot(%q, %v) = %q, %v; want %q", tc.in, tc.followLast, got, err, want)
		}
	}
}

// A build context is the client's: nothing in it may read or write host
// files through symlinks.
func TestContextSymlinksStayInside(t *testing.T) {
	hostDir := t.TempDir()
	secret := filepath.Join(hostDir, "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "out", Typeflag: tar.TypeSymlink, Linkname: hostDir})
	tw.WriteHeader(&tar.Header{Name: "out/pwned", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.WriteHeader(&tar.Header{Name: "leak", Typeflag: tar.TypeSymlink, Linkname: secret})
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	ctx := t.TempDir()
	if err := extractContext(&buf, ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "pwned")); err == nil {
		t.Fatal("a context entry below a symlink was written outside the context")
	}
	var layer bytes.Buffer
	_, err := copyLayer(copyRequest{srcs: []string{"leak"}, dest: "/x", root: ctx}, &layer)
	if err == nil || strings.Contains(layer.String(), "host secret") {
		t.Fatalf("COPY of a symlink to a host file: err %v, layer has the host file: %v", err, strings.Contains(layer.String(), "host secret"))
	}
}
