package imageregistry

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// uploads serves blob uploads (distribution spec "Pushing blobs": POST,
// PATCH, PUT) straight to files under dir, hashing as the bytes arrive.
// go-containerregistry's registry buffers a whole upload in memory, which
// for a 100 MB layer costs the server as much RSS; everything else about
// blobs stays with it. Upload sessions live in memory: a push interrupted
// by a restart starts over, as docker does anyway.
type uploads struct {
	dir   string
	blobs diskBlobs
	log   *slog.Logger

	mu       sync.Mutex
	sessions map[string]*upload
}

type upload struct {
	mu   sync.Mutex // one request at a time per session
	f    *os.File
	h    hash.Hash
	size int64
}

// uploadTarget splits /v2/<repo>/blobs/uploads/[<id>].
func uploadTarget(path string) (repo, id string, ok bool) {
	rest, found := strings.CutPrefix(path, "/v2/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/blobs/uploads")
	if i <= 0 {
		return "", "", false
	}
	repo, id = rest[:i], strings.TrimPrefix(rest[i+len("/blobs/uploads"):], "/")
	return repo, id, !strings.Contains(id, "/")
}

func (u *uploads) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, id, ok := uploadTarget(r.URL.Path)
		if !ok || (r.Method == http.MethodPost && r.URL.Query().Get("mount") != "") {
			// Cross-repository mounts need no bytes: the registry's own
			// handler answers them from the blob store.
			next.ServeHTTP(w, r)
			return
		}
		switch {
		case r.Method == http.MethodPost && id == "":
			u.start(w, r, repo)
		case r.Method == http.MethodPatch && id != "":
			u.patch(w, r, repo, id)
		case r.Method == http.MethodPut && id != "":
			u.finish(w, r, repo, id)
		case r.Method == http.MethodGet && id != "":
			u.status(w, repo, id)
		case r.Method == http.MethodDelete && id != "":
			u.cancel(w, id)
		default:
			writeRegistryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "method not allowed on an upload")
		}
	})
}

func (u *uploads) location(w http.ResponseWriter, repo, id string, size int64) {
	w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
}

func (u *uploads) start(w http.ResponseWriter, r *http.Request, repo string) {
	if err := os.MkdirAll(u.dir, 0o700); err != nil {
		u.fail(w, err)
		return
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		u.fail(w, err)
		return
	}
	id := hex.EncodeToString(b)
	f, err := os.Create(filepath.Join(u.dir, id))
	if err != nil {
		u.fail(w, err)
		return
	}
	up := &upload{f: f, h: sha256.New()}
	u.mu.Lock()
	u.sessions[id] = up
	u.mu.Unlock()
	if d := r.URL.Query().Get("digest"); d != "" {
		// Monolithic upload: POST with the whole blob.
		u.complete(w, r, repo, id, up, d)
		return
	}
	u.location(w, repo, id, 0)
	w.WriteHeader(http.StatusAccepted)
}

func (u *uploads) session(w http.ResponseWriter, id string) *upload {
	u.mu.Lock()
	defer u.mu.Unlock()
	up, ok := u.sessions[id]
	if !ok {
		writeRegistryError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
	}
	return up
}

// write appends the request body; a Content-Range must start where the
// upload stands (the spec's in-order chunks).
func (up *upload) write(r *http.Request) (int, error) {
	if cr := r.Header.Get("Content-Range"); cr != "" {
		var start, end int64
		if _, err := fmt.Sscanf(strings.TrimPrefix(cr, "bytes="), "%d-%d", &start, &end); err != nil || start != up.size {
			return http.StatusRequestedRangeNotSatisfiable, fmt.Errorf("chunk %q does not continue the upload at %d", cr, up.size)
		}
	}
	n, err := io.Copy(io.MultiWriter(up.f, up.h), r.Body)
	up.size += n
	if err != nil {
		return http.StatusBadRequest, err
	}
	return 0, nil
}

func (u *uploads) patch(w http.ResponseWriter, r *http.Request, repo, id string) {
	up := u.session(w, id)
	if up == nil {
		return
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if code, err := up.write(r); err != nil {
		writeRegistryError(w, code, "BLOB_UPLOAD_INVALID", err.Error())
		return
	}
	u.location(w, repo, id, up.size)
	w.WriteHeader(http.StatusAccepted)
}

func (u *uploads) finish(w http.ResponseWriter, r *http.Request, repo, id string) {
	up := u.session(w, id)
	if up == nil {
		return
	}
	u.complete(w, r, repo, id, up, r.URL.Query().Get("digest"))
}

// complete takes the last bytes, checks the digest and moves the file into
// the blob store; the session ends either way.
func (u *uploads) complete(w http.ResponseWriter, r *http.Request, repo, id string, up *upload, digest string) {
	up.mu.Lock()
	defer up.mu.Unlock()
	defer u.drop(id, up)
	want, err := v1.NewHash(digest)
	if err != nil || want.Algorithm != "sha256" {
		writeRegistryError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("invalid digest %q", digest))
		return
	}
	if code, err := up.write(r); err != nil {
		writeRegistryError(w, code, "BLOB_UPLOAD_INVALID", err.Error())
		return
	}
	if got := hex.EncodeToString(up.h.Sum(nil)); got != want.Hex {
		writeRegistryError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("digest mismatch: content is sha256:%s", got))
		return
	}
	if err := up.f.Close(); err != nil {
		u.fail(w, err)
		return
	}
	if err := u.blobs.adopt(up.f.Name(), want); err != nil {
		u.fail(w, err)
		return
	}
	w.Header().Set("Location", "/v2/"+repo+"/blobs/"+want.String())
	w.Header().Set("Docker-Content-Digest", want.String())
	w.WriteHeader(http.StatusCreated)
}

func (u *uploads) status(w http.ResponseWriter, repo, id string) {
	up := u.session(w, id)
	if up == nil {
		return
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	u.location(w, repo, id, up.size)
	w.WriteHeader(http.StatusNoContent)
}

func (u *uploads) cancel(w http.ResponseWriter, id string) {
	up := u.session(w, id)
	if up == nil {
		return
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	u.drop(id, up)
	w.WriteHeader(http.StatusNoContent)
}

// drop ends a session and removes its file unless it became a blob.
func (u *uploads) drop(id string, up *upload) {
	u.mu.Lock()
	delete(u.sessions, id)
	u.mu.Unlock()
	up.f.Close() // already closed after a completed upload; the error says nothing new
	if err := os.Remove(up.f.Name()); err != nil && !os.IsNotExist(err) {
		u.log.Warn("remove upload file", "file", up.f.Name(), "err", err)
	}
}

func (u *uploads) fail(w http.ResponseWriter, err error) {
	u.log.Error("blob upload", "err", err)
	writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
}
