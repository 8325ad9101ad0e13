package build

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeTree makes files (path -> content; a trailing "/" makes a directory).
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func TestCopyLayer(t *testing.T) {
	ctx := t.TempDir()
	writeTree(t, ctx, map[string]string{
		"hello.js": "x", "a.txt": "a", "b.txt": "b", "dir/sub/f": "f", "dir/skip.log": "l", "secret": "s",
	})
	ig, _ := newIgnore([]string{"secret", "**/*.log"})
	lower := t.TempDir()
	writeTree(t, lower, map[string]string{"app/": ""})
	tests := []struct {
		name    string
		srcs    []string
		dest    string
		want    []string
		wantErr string
	}{
		{name: "file into workdir dot", srcs: []string{"hello.js"}, dest: "/app/.", want: []string{"app/hello.js"}},
		{name: "file to new path creates parents", srcs: []string{"hello.js"}, dest: "/srv/x/h.js", want: []string{"srv/", "srv/x/", "srv/x/h.js"}},
		{name: "file into existing dir without slash", srcs: []string{"hello.js"}, dest: "/app", want: []string{"app/hello.js"}},
		{name: "directory contents, ignored files left out", srcs: []string{"dir"}, dest: "/d/", want: []string{"d/", "d/sub/", "d/sub/f"}},
		{name: "whole context", srcs: []string{"."}, dest: "/c/", want: []string{"c/", "c/a.txt", "c/b.txt", "c/dir/", "c/dir/sub/", "c/dir/sub/f", "c/hello.js"}},
		{name: "wildcard", srcs: []string{"*.txt"}, dest: "/t/", want: []string{"t/", "t/a.txt", "t/b.txt"}},
		{name: "missing source", srcs: []string{"nope.js"}, dest: "/", wantErr: "file not found in build context or excluded by .dockerignore: stat nope.js"},
		{name: "ignored source", srcs: []string{"secret"}, dest: "/", wantErr: "excluded by .dockerignore"},
		{name: "escape the context", srcs: []string{"../../etc/passwd"}, dest: "/", wantErr: "file not found"},
		{name: "url", srcs: []string{"http://example.com/x"}, dest: "/", wantErr: "not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := copyLayer(copyRequest{srcs: tc.srcs, dest: tc.dest, root: ctx, ignore: ig, lower: lower, now: time.Unix(0, 0)}, &buf)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("copyLayer error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tarNames(t, buf.Bytes()); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("layer entries = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCopyDigestFollowsContent(t *testing.T) {
	ctx := t.TempDir()
	writeTree(t, ctx, map[string]string{"f": "one"})
	digest := func() string {
		d, err := copyLayer(copyRequest{srcs: []string{"f"}, dest: "/f", root: ctx, now: time.Now()}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d1 := digest()
	// Touching the file changes its mtime only: still a cache hit.
	if err := os.Chtimes(filepath.Join(ctx, "f"), time.Unix(5, 0), time.Unix(5, 0)); err != nil {
		t.Fatal(err)
	}
	if d2 := digest(); d2 != d1 {
		t.Errorf("digest changed with mtime: %s vs %s", d1, d2)
	}
	writeTree(t, ctx, map[string]string{"f": "two"})
	if d3 := digest(); d3 == d1 {
		t.Error("digest did not change with content")
	}
}

func TestIgnore(t *testing.T) {
	ig, err := newIgnore([]string{"# comment", "*.md", "!README.md", "build/", "**/tmp"})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]bool{
		"a.md": true, "README.md": false, "build/x": true, "src/a/tmp": true, "tmp": true, "src/main.go": false, "docs/a.md": false,
	}
	for p, want := range tests {
		if got := ig.excluded(p); got != want {
			t.Errorf("excluded(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestExtractContextRejectsGarbage(t *testing.T) {
	err := extractContext(strings.NewReader(strings.Repeat("not a tar ", 100)), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not a valid tar archive") {
		t.Fatalf("extractContext(garbage) = %v", err)
	}
}
