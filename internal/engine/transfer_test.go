package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// TestPushPullThroughMirror checks the docker.io mirror path berth relies
// on: `push kubetm/hello` lands in the registry registries.yaml names for
// docker.io (with its credentials), and after rmi a pull brings it back.
func TestPushPullThroughMirror(t *testing.T) {
	needPrivileges(t)
	var sawAuth atomic.Bool
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		sawAuth.Store(true)
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	root := t.TempDir()
	yaml := "mirrors:\n  docker.io:\n    endpoint: [\"" + srv.URL + "\"]\nconfigs:\n  \"" + host + "\":\n    auth: {username: admin, password: pw}\n"
	if err := os.WriteFile(filepath.Join(root, "registries.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &Engine{cfg: Config{Root: root}, root: filepath.Join(root, "engine"), containers: map[string]*container{}, names: map[string]string{}}
	var err error
	if e.images, err = openImageStore(e.root); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rootfs := makeTar(t, []tarEntry{{name: "hello.js", typ: tar.TypeReg, body: "console.log('hi')"}})
	img, err := e.ImportRootfs(ctx, bytes.NewReader(rootfs), ImportOptions{Ref: "kubetm/hello"})
	if err != nil {
		t.Fatal(err)
	}
	var progress []string
	digest, err := e.Push(ctx, "kubetm/hello", PushOptions{Progress: func(p Progress) { progress = append(progress, p.Status) }})
	if err != nil {
		t.Fatal(err)
	}
	if !sawAuth.Load() || !strings.HasPrefix(digest, "sha256:") || !contains(progress, "Pushed") {
		t.Errorf("push: auth %v digest %q progress %v", sawAuth.Load(), digest, progress)
	}
	if _, err := e.RemoveImage(ctx, "kubetm/hello", false); err != nil {
		t.Fatal(err)
	}
	got, err := e.Pull(ctx, "kubetm/hello", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != img.ID || len(got.RepoTags) != 1 || got.RepoTags[0] != "kubetm/hello:latest" ||
		len(got.RepoDigests) != 1 || got.RepoDigests[0] != "kubetm/hello@"+digest {
		t.Errorf("pulled = %+v, want the pushed image under its docker.io name", got)
	}

	_, err = e.Pull(ctx, "kubetm/nothere", PullOptions{})
	if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), "kubetm/nothere") {
		t.Errorf("pull of a missing image = %v, want ErrImageNotFound naming it", err)
	}
	_, err = e.Pull(ctx, "kubetm/hello", PullOptions{Credentials: &Credentials{Username: "admin", Password: "wrong"}})
	if err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Errorf("pull with wrong credentials = %v, want the registry's UNAUTHORIZED", err)
	}
}
