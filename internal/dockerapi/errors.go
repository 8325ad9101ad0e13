package dockerapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/berth-dev/berth/internal/engine"
)

// apiError is an error with the HTTP status Docker answers it with. Handlers
// return it (or any error, which becomes a 500); writeError turns it into
// Docker's {"message": ...} body once, at the edge.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, a ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) error { return errorf(http.StatusBadRequest, format, a...) }
func notFound(format string, a ...any) error   { return errorf(http.StatusNotFound, format, a...) }
func conflict(format string, a ...any) error   { return errorf(http.StatusConflict, format, a...) }

// statusOf maps an error to Docker's status code: apiErrors carry theirs,
// engine sentinels map as moby's errdefs do (not found 404, conflict 409,
// invalid parameter 400), anything else is a 500.
func (s *Server) statusOf(err error) int {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.status
	case errors.Is(err, engine.ErrImageNotFound), errors.Is(err, engine.ErrContainerNotFound):
		return http.StatusNotFound
	case errors.Is(err, engine.ErrNameInUse), errors.Is(err, engine.ErrRunning),
		errors.Is(err, engine.ErrNotRunning), errors.Is(err, engine.ErrImageInUse):
		return http.StatusConflict
	case errors.Is(err, engine.ErrInvalid), errors.Is(err, engine.ErrAmbiguous):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// noSuchContainer gives a not-found engine error docker's wording.
func noSuchContainer(id string, err error) error {
	if errors.Is(err, engine.ErrContainerNotFound) {
		return notFound("No such container: %s", id)
	}
	return err
}

// noSuchImage gives a not-found engine error docker's wording, with the
// ":latest" docker adds to a bare name.
func noSuchImage(ref string, err error) error {
	if errors.Is(err, engine.ErrImageNotFound) {
		return notFound("No such image: %s", familiarRef(ref))
	}
	return err
}

func familiarRef(ref string) string {
	if r, err := engine.ParseReference(ref); err == nil && !looksLikeID(ref) {
		return r.Familiar()
	}
	return ref
}

// writeError answers Docker's error body; docker/cli prints "Error response
// from daemon: <message>".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := s.statusOf(err)
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.Debug("request rejected", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeJSON(w, status, map[string]string{"message": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// jsonMessage is one line of a progress stream (pull, push, build, load);
// docker/cli's jsonmessage package renders it.
type jsonMessage struct {
	Stream      string        `json:"stream,omitempty"`
	Status      string        `json:"status,omitempty"`
	ID          string        `json:"id,omitempty"`
	Progress    string        `json:"progress,omitempty"`
	Aux         any           `json:"aux,omitempty"`
	Error       string        `json:"error,omitempty"`
	ErrorDetail *errorDetail  `json:"errorDetail,omitempty"`
	Detail      *progressInfo `json:"progressDetail,omitempty"`
}

type errorDetail struct {
	Message string `json:"message"`
}

type progressInfo struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

// progress writes a stream of jsonMessages. Once the first line is out the
// status is 200, so a later failure goes in the stream as an error message,
// which the CLI prints and turns into a non-zero exit. It is safe for
// concurrent use: pulls report layers from several goroutines.
type progress struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
}

func newProgress(w http.ResponseWriter) *progress {
	return &progress{w: w, enc: json.NewEncoder(newFlushWriter(w))}
}

func (p *progress) send(m jsonMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startLocked()
	p.enc.Encode(m)
}

func (p *progress) startLocked() {
	if !p.started {
		p.w.Header().Set("Content-Type", "application/json")
		p.w.WriteHeader(http.StatusOK)
		p.started = true
	}
}

// Stream writes s as a {"stream": s} line (build output).
func (p *progress) Stream(s string) { p.send(jsonMessage{Stream: s}) }

// Status writes a {"status": s, "id": id} line (pull/push/load progress).
func (p *progress) Status(id, s string) { p.send(jsonMessage{ID: id, Status: s}) }

// finish ends the stream with err, or answers err as a plain error response
// when nothing was streamed yet.
func (p *progress) finish(s *Server, r *http.Request, err error) {
	p.mu.Lock()
	started := p.started
	if err == nil {
		p.startLocked()
	}
	p.mu.Unlock()
	if err == nil {
		return
	}
	if !started {
		s.writeError(p.w, r, err)
		return
	}
	s.log.Debug("stream ended with error", "path", r.URL.Path, "err", err)
	p.send(jsonMessage{Error: err.Error(), ErrorDetail: &errorDetail{Message: err.Error()}})
}
