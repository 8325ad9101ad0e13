package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/berth-dev/berth/internal/auth"
)

func TestMemberRequestValidate(t *testing.T) {
	tests := []struct {
		name    string
		req     memberRequest
		wantErr bool
	}{
		{"ok", memberRequest{Name: "vm-10.0.0.2", PeerURL: "https://10.0.0.2:2380"}, false},
		{"no name", memberRequest{PeerURL: "https://10.0.0.2:2380"}, true},
		{"name breaks initial-cluster", memberRequest{Name: "a=b", PeerURL: "https://10.0.0.2:2380"}, true},
		{"comma in name", memberRequest{Name: "a,b", PeerURL: "https://10.0.0.2:2380"}, true},
		{"no scheme", memberRequest{Name: "a", PeerURL: "10.0.0.2:2380"}, true},
		{"other scheme", memberRequest{Name: "a", PeerURL: "unix://x"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.req.validate(); (err != nil) != tt.wantErr {
				t.Fatalf("validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestBootstrapRoundTrip(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"tls/ca.crt": "CERT", "tls/ca.key": "KEY", "token": "T\n", "tls/serving.crt": "mine"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err := readBootstrap(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b["tls/serving.crt"]; ok {
		t.Fatal("a server's own serving certificate must not be shared")
	}
	if _, ok := b["registry-credentials"]; ok {
		t.Fatal("a missing file must be left out")
	}
	if err := b.write(dst); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tls/ca.crt", "tls/ca.key", "token"} {
		got, err := os.ReadFile(filepath.Join(dst, name))
		want, _ := os.ReadFile(filepath.Join(src, name))
		if err != nil || string(got) != string(want) {
			t.Fatalf("%s: got %q (%v), want %q", name, got, err, want)
		}
	}
}

func TestBootstrapWriteRefusesOtherPaths(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"../escape", "tls/serving.key", "/etc/passwd"} {
		if err := (Bootstrap{name: []byte("x")}).write(dir); err == nil {
			t.Errorf("write(%q) succeeded, want an error", name)
		}
	}
}

func TestPrepare(t *testing.T) {
	loadCA := func(dir string) func() (*auth.PKI, error) {
		return func() (*auth.PKI, error) {
			return auth.LoadOrCreatePKI(filepath.Join(dir, "tls"), []string{"127.0.0.1"})
		}
	}
	t.Run("no flags is the single-server default", func(t *testing.T) {
		dir := t.TempDir()
		configure, err := Prepare(context.Background(), Options{DataDir: dir, Advertise: "10.0.0.1", LoadCA: loadCA(dir)})
		if err != nil || configure != nil {
			t.Fatalf("Prepare() = %v, %v; want nil, nil", configure != nil, err)
		}
		if IsMember(dir) {
			t.Fatal("a single server must not become a member")
		}
	})
	t.Run("cluster-init on an existing single-server etcd", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "etcd", "data", "member"), 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := Prepare(context.Background(), Options{Init: true, DataDir: dir, Advertise: "10.0.0.1", LoadCA: loadCA(dir)})
		if err == nil || !strings.Contains(err.Error(), "fresh data dir") {
			t.Fatalf("Prepare() error = %v, want one asking for a fresh data dir", err)
		}
	})
	t.Run("cluster-init needs a reachable advertise address", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := Prepare(context.Background(), Options{Init: true, DataDir: dir, Advertise: "0.0.0.0", LoadCA: loadCA(dir)}); err == nil {
			t.Fatal("Prepare() with advertise 0.0.0.0 succeeded, want an error")
		}
	})
	t.Run("cluster-init and server together", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := Prepare(context.Background(), Options{Init: true, Server: "https://x:6443", DataDir: dir, Advertise: "10.0.0.1", LoadCA: loadCA(dir)}); err == nil {
			t.Fatal("Prepare() with both flags succeeded, want an error")
		}
	})
	t.Run("cluster-init keeps its identity on restart without flags", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := Prepare(context.Background(), Options{Init: true, DataDir: dir, Advertise: "10.0.0.1", LoadCA: loadCA(dir)}); err != nil {
			t.Fatal(err)
		}
		if !IsMember(dir) {
			t.Fatal("IsMember() = false after --cluster-init")
		}
		configure, err := Prepare(context.Background(), Options{DataDir: dir, Advertise: "10.0.0.9", LoadCA: loadCA(dir)})
		if err != nil || configure == nil {
			t.Fatalf("Prepare() on restart = %v, %v; want a member config", configure != nil, err)
		}
		cfg := embed.NewConfig()
		configure(cfg)
		if got := cfg.AdvertisePeerUrls[0].String(); got != "https://10.0.0.1:2380" || cfg.PeerTLSInfo.Empty() {
			t.Fatalf("restarted member advertises %s (peer TLS %v), want https://10.0.0.1:2380 with TLS", got, !cfg.PeerTLSInfo.Empty())
		}
	})
}
