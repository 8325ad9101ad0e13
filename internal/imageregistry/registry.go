package imageregistry

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Config configures a registry handler.
type Config struct {
	// Dir holds the registry's data: Dir/blobs and Dir/manifests.
	Dir         string
	Credentials Credentials
	Log         *slog.Logger
}

// New returns the registry as an http.Handler to mount at the site root. It
// restores the manifests pushed before a restart first, and fails if they
// can't be read back.
func New(cfg Config) (http.Handler, error) {
	if cfg.Credentials.Username == "" || cfg.Credentials.Password == "" {
		return nil, fmt.Errorf("registry: credentials are required")
	}
	blobDir := filepath.Join(cfg.Dir, "blobs")
	if err := os.MkdirAll(blobDir, 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	store := manifestStore{dir: filepath.Join(cfg.Dir, "manifests"), log: cfg.Log}
	blobs := diskBlobs{dir: blobDir}
	inner := registry.New(
		registry.WithBlobHandler(blobs),
		registry.Logger(slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug)),
	)
	if err := store.replay(inner); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	up := &uploads{dir: filepath.Join(cfg.Dir, "uploads"), blobs: blobs, log: cfg.Log, sessions: map[string]*upload{}}
	// Uploads of an earlier run can't be resumed (their hash state is gone).
	if err := os.RemoveAll(up.dir); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return requireBasicAuth(cfg.Credentials, up.wrap(store.wrap(inner))), nil
}
