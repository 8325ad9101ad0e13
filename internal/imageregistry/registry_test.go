package imageregistry

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

var testCreds = Credentials{Username: "berth", Password: "s3cret"}

func newServer(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	h, err := New(Config{Dir: dir, Credentials: testCreds, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func TestPushPullSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	srv := newServer(t, dir)
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/kubetm/hello:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: testCreds.Username, Password: testCreds.Password})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("push: %v", err)
	}
	want, _ := img.Digest()

	// A second handler on the same dir stands for berth after a restart.
	srv.Close()
	srv2 := newServer(t, dir)
	ref2, _ := name.ParseReference(strings.TrimPrefix(srv2.URL, "http://")+"/kubetm/hello:latest", name.Insecure)
	got, err := remote.Image(ref2, auth)
	if err != nil {
		t.Fatalf("pull after restart: %v", err)
	}
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled digest = %s, want %s", d, want)
	}
	layers, err := got.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("layers = %d, %v; want 2", len(layers), err)
	}
	rc, err := layers[1].Compressed()
	if err != nil {
		t.Fatalf("fetch layer: %v", err)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		t.Errorf("read layer: %v", err)
	}
	rc.Close()
}

func TestAuth(t *testing.T) {
	srv := newServer(t, t.TempDir())
	tests := []struct {
		name       string
		user, pass string
		setAuth    bool
		wantStatus int
	}{
		{name: "no credentials", wantStatus: http.StatusUnauthorized},
		{name: "wrong password", user: "berth", pass: "nope", setAuth: true, wantStatus: http.StatusUnauthorized},
		{name: "right credentials", user: "berth", pass: "s3cret", setAuth: true, wantStatus: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
			if tc.setAuth {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("GET /v2/ = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestPushWithoutCredentialsFails(t *testing.T) {
	srv := newServer(t, t.TempDir())
	ref, _ := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/x/y:1", name.Insecure)
	img, _ := random.Image(64, 1)
	err := remote.Write(ref, img)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous push error = %v, want 401", err)
	}
}

func TestDeletedManifestStaysDeleted(t *testing.T) {
	dir := t.TempDir()
	srv := newServer(t, dir)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, _ := name.ParseReference(host+"/a/b:v1", name.Insecure)
	img, _ := random.Image(64, 1)
	auth := remote.WithAuth(&authn.Basic{Username: testCreds.Username, Password: testCreds.Password})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref, auth); err != nil {
		t.Fatalf("delete: %v", err)
	}
	srv.Close()
	srv2 := newServer(t, dir)
	ref2, _ := name.ParseReference(strings.TrimPrefix(srv2.URL, "http://")+"/a/b:v1", name.Insecure)
	if _, err := remote.Image(ref2, auth); err == nil {
		t.Fatal("deleted tag came back after restart")
	}
}

func TestLoadOrCreateCredentials(t *testing.T) {
	p := filepath.Join(t.TempDir(), "registry-credentials")
	c1, err := LoadOrCreateCredentials(p)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Username != DefaultUsername || len(c1.Password) != 32 {
		t.Errorf("generated %+v, want user %q and a 32-char password", c1, DefaultUsername)
	}
	c2, err := LoadOrCreateCredentials(p)
	if err != nil || c2 != c1 {
		t.Errorf("second load = %+v, %v; want the same %+v", c2, err, c1)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	if err := os.WriteFile(p, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCredentials(p); err == nil {
		t.Error("malformed credentials file accepted")
	}
}

func TestWriteMirrorConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "registries.yaml")
	if err := WriteMirrorConfig(p, ClusterMirrorConfig("127.0.0.1:5000", testCreds)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	want := `configs:
  127.0.0.1:5000:
    auth:
      password: s3cret
      username: berth
mirrors:
  docker.io:
    endpoint:
    - http://127.0.0.1:5000
`
	if string(b) != want {
		t.Errorf("registries.yaml =\n%s\nwant\n%s", b, want)
	}
}
