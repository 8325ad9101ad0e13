package imageregistry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxManifestBytes caps a manifest body; distribution's own limit is 4 MiB.
const maxManifestBytes = 4 << 20

// manifestStore keeps every manifest pushed through the registry on disk,
// as DIR/<repo>/_manifests/<tag or digest>.json. go-containerregistry's
// registry holds manifests only in memory, so the store records each
// successful PUT and DELETE and replays the records into a new handler on
// start. Repository path components can't begin with "_" (distribution
// spec), so "_manifests" never collides with a nested repository.
type manifestStore struct {
	dir string
	log *slog.Logger
}

type manifestRecord struct {
	ContentType string `json:"contentType"`
	Manifest    []byte `json:"manifest"`
}

// manifestTarget splits /v2/<repo>/manifests/<ref>; ok is false for any
// other path.
func manifestTarget(path string) (repo, ref string, ok bool) {
	rest, found := strings.CutPrefix(path, "/v2/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i <= 0 {
		return "", "", false
	}
	repo, ref = rest[:i], rest[i+len("/manifests/"):]
	if ref == "" || strings.Contains(ref, "/") || strings.Contains(ref, "..") ||
		strings.Contains(repo, "..") || strings.Contains(repo, "_manifests") {
		return "", "", false
	}
	return repo, ref, true
}

func (s manifestStore) file(repo, ref string) string {
	return filepath.Join(s.dir, filepath.FromSlash(repo), "_manifests", ref+".json")
}

// wrap records PUT and DELETE of manifests that next accepted.
func (s manifestStore) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, ref, ok := manifestTarget(r.URL.Path)
		if !ok || (r.Method != http.MethodPut && r.Method != http.MethodDelete) {
			next.ServeHTTP(w, r)
			return
		}
		var body []byte
		if r.Method == http.MethodPut {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxManifestBytes+1))
			if err != nil || len(b) > maxManifestBytes {
				writeRegistryError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest unreadable or larger than 4 MiB")
				return
			}
			body = b
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status >= 300 {
			return
		}
		var err error
		if r.Method == http.MethodPut {
			err = s.save(repo, ref, manifestRecord{ContentType: r.Header.Get("Content-Type"), Manifest: body})
		} else {
			err = os.Remove(s.file(repo, ref))
			if errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		}
		if err != nil {
			// The client has its answer already; all that is left is to
			// tell the operator the registry forgets this on restart.
			s.log.Error("persist manifest", "repo", repo, "ref", ref, "err", err)
		}
	})
}

func (s manifestStore) save(repo, ref string, m manifestRecord) error {
	p := s.file(repo, ref)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// replay PUTs every recorded manifest into h: image manifests before
// indexes, because the registry checks that an index's children exist.
func (s manifestStore) replay(h http.Handler) error {
	type item struct {
		repo, ref string
		rec       manifestRecord
	}
	var items []item
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == s.dir {
			return fs.SkipAll
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return err
		}
		repoDir, name := filepath.Split(rel)
		repo := strings.TrimSuffix(filepath.ToSlash(repoDir), "/_manifests/")
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var rec manifestRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		items = append(items, item{repo, strings.TrimSuffix(name, ".json"), rec})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read manifests: %w", err)
	}
	sort.SliceStable(items, func(i, j int) bool {
		return !types.MediaType(items[i].rec.ContentType).IsIndex() && types.MediaType(items[j].rec.ContentType).IsIndex()
	})
	for _, it := range items {
		req := httptest.NewRequest(http.MethodPut, "/v2/"+it.repo+"/manifests/"+it.ref, bytes.NewReader(it.rec.Manifest))
		req.Header.Set("Content-Type", it.rec.ContentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			return fmt.Errorf("restore manifest %s:%s: %d %s", it.repo, it.ref, rec.Code, rec.Body)
		}
	}
	return nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// writeRegistryError writes the distribution spec's error body.
func writeRegistryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
