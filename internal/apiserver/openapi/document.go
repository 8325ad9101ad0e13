package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// document is one served body, kept only gzipped: Go clients (kubectl,
// client-go) ask for gzip by default, and the few that do not get it
// inflated on the fly. The JSON is 5-10 times larger than its gzip.
type document struct {
	gz          []byte
	size        int    // length of the uncompressed body
	hash        string // upper-case hex SHA-512 of the body, as upstream
	contentType string
}

func newDocument(body []byte, contentType string) (*document, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return &document{
		gz:          bytes.Clone(buf.Bytes()), // drop the buffer's spare capacity
		size:        len(body),
		hash:        fmt.Sprintf("%X", sha512.Sum512(body)),
		contentType: contentType,
	}, nil
}

// body returns the uncompressed document.
func (d *document) body() ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(d.gz))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	b := make([]byte, 0, d.size)
	buf := bytes.NewBuffer(b)
	if _, err := io.Copy(buf, zr); err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return buf.Bytes(), nil
}

// serve writes d with its ETag, or 304 when the client has it. immutable
// marks a response fetched by content hash, which never changes.
func (d *document) serve(w http.ResponseWriter, r *http.Request, immutable bool) {
	etag := strconv.Quote(d.hash)
	hdr := w.Header()
	hdr.Set("Content-Type", d.contentType)
	hdr.Set("ETag", etag)
	hdr.Set("Vary", "Accept, Accept-Encoding")
	if immutable {
		hdr.Set("Cache-Control", "public, immutable")
		// One year, the longest Expires RFC 9111 expects caches to honour.
		hdr.Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
	}
	if noneMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	if gz {
		hdr.Set("Content-Encoding", "gzip")
		hdr.Set("Content-Length", strconv.Itoa(len(d.gz)))
	} else {
		hdr.Set("Content-Length", strconv.Itoa(d.size))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if gz {
		_, _ = w.Write(d.gz) // a failed write means the client left
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(d.gz))
	if err != nil {
		return // d.gz was written by newDocument; it always reads back
	}
	_, _ = io.Copy(w, zr) // as above
}

// noneMatch reports whether an If-None-Match header names etag.
func noneMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") || strings.TrimSpace(coding) == "*" {
			return !zeroQ(params)
		}
	}
	return false
}

// acceptedType returns the first of offers that an Accept header allows, in
// the header's order ("" when none). An empty header accepts offers[0].
func acceptedType(accept string, offers ...string) string {
	if strings.TrimSpace(accept) == "" {
		return offers[0]
	}
	for _, clause := range strings.Split(accept, ",") {
		// Not mime.ParseMediaType: client-go's v2 protobuf type has an '@',
		// which RFC 2045 does not allow in a token.
		mt, params, _ := strings.Cut(clause, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if zeroQ(params) {
			continue
		}
		for _, o := range offers {
			typ, sub, _ := strings.Cut(o, "/")
			ct, csub, _ := strings.Cut(mt, "/")
			if (ct == "*" || ct == typ) && (csub == "*" || csub == sub) {
				return o
			}
		}
	}
	return ""
}

// acceptable reports whether an Accept header allows offer.
func acceptable(accept, offer string) bool {
	return acceptedType(accept, offer) != ""
}

func zeroQ(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "q") {
			f, err := strconv.ParseFloat(v, 64)
			return err == nil && f == 0
		}
	}
	return false
}
