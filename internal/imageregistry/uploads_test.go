package imageregistry

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestUploads(t *testing.T) {
	srv := newServer(t, t.TempDir())
	blob := "hello blob"
	sum := sha256.Sum256([]byte(blob))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	req := func(method, path, body string, hdr ...string) *http.Response {
		t.Helper()
		url := path
		if strings.HasPrefix(path, "/") {
			url = srv.URL + path
		}
		r, _ := http.NewRequest(method, url, strings.NewReader(body))
		r.SetBasicAuth("berth", "s3cret")
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	start := func() string {
		resp := req("POST", "/v2/a/b/blobs/uploads/", "")
		if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Location") == "" {
			t.Fatalf("POST upload = %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		return resp.Header.Get("Location")
	}
	getBlob := func() int { return req("GET", "/v2/a/b/blobs/"+digest, "").StatusCode }

	t.Run("monolithic POST", func(t *testing.T) {
		if resp := req("POST", "/v2/a/b/blobs/uploads/?digest="+digest, blob); resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST ?digest = %d", resp.StatusCode)
		}
		if code := getBlob(); code != http.StatusOK {
			t.Errorf("GET blob = %d", code)
		}
	})
	t.Run("chunks then PUT", func(t *testing.T) {
		loc := start()
		if resp := req("PATCH", loc, blob[:5], "Content-Range", "0-4"); resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != "0-4" {
			t.Fatalf("PATCH = %d, Range %q", resp.StatusCode, resp.Header.Get("Range"))
		}
		if resp := req("PATCH", loc, blob[:5], "Content-Range", "0-4"); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("repeated chunk = %d, want 416", resp.StatusCode)
		}
		if resp := req("PUT", loc+"?digest="+digest, blob[5:]); resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != digest {
			t.Fatalf("PUT = %d", resp.StatusCode)
		}
		if resp := req("PATCH", loc, "more"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("PATCH after the upload ended = %d, want 404", resp.StatusCode)
		}
	})
	t.Run("wrong digest", func(t *testing.T) {
		loc := start()
		bad := "sha256:" + strings.Repeat("0", 64)
		if resp := req("PUT", loc+"?digest="+bad, blob); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("PUT with a wrong digest = %d, want 400", resp.StatusCode)
		}
		if code := req("GET", "/v2/a/b/blobs/"+bad, "").StatusCode; code != http.StatusNotFound {
			t.Errorf("the lying blob is served: %d", code)
		}
	})
}
