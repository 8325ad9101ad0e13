package dockerapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/engine/build"
)

// streamWriter turns the builder's text output into {"stream": ...} lines.
type streamWriter struct{ p *progress }

func (sw streamWriter) Write(b []byte) (int, error) {
	sw.p.Stream(string(b))
	return len(b), nil
}

// build is POST /build, the legacy builder API the docker CLI uses without
// buildx: the body is the context tar, the query the build options.
func (s *Server) build(w http.ResponseWriter, r *http.Request) error {
	if s.builder == nil {
		return errorf(http.StatusNotImplemented, "builds are not available on this node")
	}
	q := r.URL.Query()
	if q.Get("remote") != "" {
		return errorf(http.StatusNotImplemented, "remote build contexts are not supported by berth (it never reaches the network)")
	}
	if v := q.Get("version"); v == "2" {
		return errorf(http.StatusNotImplemented, "BuildKit (version=2) is not supported by berth; use the legacy builder (DOCKER_BUILDKIT=0)")
	}
	opts := build.Options{
		Context:     r.Body,
		Dockerfile:  q.Get("dockerfile"),
		Tags:        q["t"],
		NoCache:     boolParam(q.Get("nocache")),
		Pull:        boolParam(q.Get("pull")),
		Target:      q.Get("target"),
		Credentials: registryConfig(r),
	}
	for _, t := range opts.Tags {
		if strings.TrimSpace(t) == "" {
			return badRequest("invalid tag: empty")
		}
	}
	if v := q.Get("buildargs"); v != "" {
		if err := json.Unmarshal([]byte(v), &opts.BuildArgs); err != nil {
			return badRequest("invalid buildargs: %v", err)
		}
	}
	if v := q.Get("labels"); v != "" {
		if err := json.Unmarshal([]byte(v), &opts.Labels); err != nil {
			return badRequest("invalid labels: %v", err)
		}
	}
	p := newProgress(w)
	opts.Out = streamWriter{p}
	if boolParam(q.Get("q")) {
		opts.Out = io.Discard
	}
	opts.Aux = func(id string) { p.send(jsonMessage{Aux: map[string]string{"ID": id}}) }
	_, err := s.builder.Build(r.Context(), opts)
	p.finish(s, r, err)
	return nil
}
