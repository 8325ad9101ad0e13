package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// cache maps a step's key to the image the step produced, persisted in
// DIR/cache.json so a rebuild after a restart still hits. A key is the
// sha256 of the parent image ID and everything that decides the step's
// result (the expanded instruction, the ARG values RUN sees, the digest of
// COPY sources), the way the legacy builder's image-parent cache works.
type cache struct {
	path string
	mu   sync.Mutex
	m    map[string]string
}

func openCache(dir string) (*cache, error) {
	c := &cache{path: filepath.Join(dir, "cache.json"), m: map[string]string{}}
	b, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("build cache: %w", err)
	}
	if err := json.Unmarshal(b, &c.m); err != nil {
		// A corrupt cache only costs a rebuild; start over.
		c.m = map[string]string{}
	}
	return c, nil
}

func cacheKey(parent string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(parent))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *cache) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[key]
	return id, ok
}

func (c *cache) put(key, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = id
	b, err := json.Marshal(c.m)
	if err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	return os.Rename(tmp, c.path)
}

// forget drops a key whose image is gone (removed with docker rmi).
func (c *cache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}
