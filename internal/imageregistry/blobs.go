package imageregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// diskBlobs stores blobs content-addressed as DIR/<algorithm>/<hex>. The
// digest is verified once, on Put, so Stat is a plain file stat rather than
// a rehash of the whole layer on every HEAD (what registry.NewDiskBlobHandler does).
type diskBlobs struct {
	dir string
}

var (
	_ registry.BlobStatHandler   = diskBlobs{}
	_ registry.BlobPutHandler    = diskBlobs{}
	_ registry.BlobDeleteHandler = diskBlobs{}
)

func (d diskBlobs) path(h v1.Hash) string { return filepath.Join(d.dir, h.Algorithm, h.Hex) }

func (d diskBlobs) Stat(_ context.Context, _ string, h v1.Hash) (int64, error) {
	fi, err := os.Stat(d.path(h))
	if errors.Is(err, os.ErrNotExist) {
		return 0, registry.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", h, err)
	}
	return fi.Size(), nil
}

func (d diskBlobs) Get(_ context.Context, _ string, h v1.Hash) (io.ReadCloser, error) {
	f, err := os.Open(d.path(h))
	if errors.Is(err, os.ErrNotExist) {
		return nil, registry.ErrNotFound
	}
	return f, err
}

// Put writes to a temporary file next to the target and renames it into
// place only when the content hashes to h, so a torn or lying upload never
// becomes a blob.
func (d diskBlobs) Put(_ context.Context, _ string, h v1.Hash, rc io.ReadCloser) (retErr error) {
	defer rc.Close()
	if h.Algorithm != "sha256" {
		return fmt.Errorf("put blob %s: unsupported digest algorithm", h)
	}
	dir := filepath.Join(d.dir, h.Algorithm)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("put blob %s: %w", h, err)
	}
	f, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return fmt.Errorf("put blob %s: %w", h, err)
	}
	defer func() {
		if retErr != nil {
			os.Remove(f.Name()) // best effort: the temp file is garbage either way
		}
	}()
	got, _, err := v1.SHA256(io.TeeReader(rc, f))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("put blob %s: %w", h, err)
	}
	if got != h {
		return fmt.Errorf("put blob %s: content has digest %s", h, got)
	}
	return os.Rename(f.Name(), d.path(h))
}

func (d diskBlobs) Delete(_ context.Context, _ string, h v1.Hash) error {
	err := os.Remove(d.path(h))
	if errors.Is(err, os.ErrNotExist) {
		return registry.ErrNotFound
	}
	return err
}

// adopt moves a file whose content hashes to h into the store.
func (d diskBlobs) adopt(path string, h v1.Hash) error {
	dir := filepath.Join(d.dir, h.Algorithm)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store blob %s: %w", h, err)
	}
	if err := os.Rename(path, d.path(h)); err != nil {
		return fmt.Errorf("store blob %s: %w", h, err)
	}
	return nil
}
