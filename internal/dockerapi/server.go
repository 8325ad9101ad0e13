package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/engine"

	"github.com/berth-dev/berth/internal/version"
)

// MaxPathVersion is the newest /vX.Y path prefix accepted. The CLI asks for
// min(its version, the API-Version we announce), so prefixes above
// version.DockerAPI come only from newer clients that were told to talk
// version.DockerAPI semantics; they are served the same way.
const MaxPathVersion = "1.52"

// Server is a Docker Engine API server.
type Server struct {
	cfg       Config
	log       *slog.Logger
	mux       *http.ServeMux
	eng       Engine
	builder   Builder
	sandboxes *sandboxes // nil without a network
	execs     execs
	events    events

	// baseCtx outlives requests: hijacked sessions and removal watchers
	// run under it. Serve cancels it on shutdown and waits for wg.
	baseCtx context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// handlerFunc is an endpoint; a returned error is written as Docker's error
// body unless the handler already answered.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Log, mux: http.NewServeMux(), eng: cfg.Engine, builder: cfg.Builder,
		execs: execs{m: map[string]*execInstance{}}}
	if cfg.Network != nil {
		s.sandboxes = &sandboxes{dir: sandboxDir(cfg.DataDir), net: cfg.Network, ready: make(chan readySandbox, readyPool-1)}
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.routes()
	return s
}

func (s *Server) handle(pattern string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

var versionPrefix = regexp.MustCompile(`^/v(\d+)\.(\d+)(/.*)$`)

// ServeHTTP strips the /vX.Y prefix after checking it against the range we
// serve, and answers unknown endpoints with Docker's JSON error.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.setPingHeaders(w)
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		v := m[1] + "." + m[2]
		if compareVersions(v, version.MinDockerAPI) < 0 {
			s.writeError(w, r, badRequest("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, version.MinDockerAPI))
			return
		}
		if compareVersions(v, MaxPathVersion) > 0 {
			s.writeError(w, r, badRequest("client version %s is too new. Maximum supported API version is %s", v, version.DockerAPI))
			return
		}
		r2 := *r
		u := *r.URL
		u.Path, u.RawPath = m[3], ""
		r2.URL = &u
		r = &r2
	}
	// Handler only finds the route; ServeHTTP then sets the path values.
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.writeError(w, r, notFound("page not found"))
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) setPingHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Api-Version", version.DockerAPI)
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Server", "Docker/"+dockerVersion+" (linux)")
	// "1" is the legacy builder: the CLI without buildx then uses POST /build.
	h.Set("Builder-Version", "1")
}

// compareVersions compares "1.41"-style versions numerically.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 2; i++ {
		x, _ := strconv.Atoi(at(pa, i))
		y, _ := strconv.Atoi(at(pb, i))
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "0"
}

// Serve releases the networks of containers removed while berth was down,
// watches the others, then listens on the unix socket path (mode 0660, replacing a stale
// socket left by a crash) and serves until ctx is done. Hijacked attach and
// exec sessions are not waited for: http.Server.Shutdown doesn't track them,
// and the containers behind them keep running under their shims anyway.
func (s *Server) Serve(ctx context.Context, path string) error {
	defer func() {
		s.cancel()
		s.wg.Wait()
	}()
	if s.sandboxes != nil {
		if err := s.sandboxes.gc(ctx, s.eng); err != nil {
			s.log.Warn("release stale container networks", "err", err)
		}
		cs, err := s.eng.List(ctx, engine.ListOptions{All: true})
		if err != nil {
			return err
		}
		for _, c := range cs {
			if sb := c.Spec.Annotations[annSandbox]; sb != "" {
				s.watchRemoval(c.ID, sb)
			}
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.sandboxes.fill(s.baseCtx, s.log)
		}()
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("docker API serving", "socket", path)
	select {
	case err := <-errc:
		return fmt.Errorf("docker API: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("docker API shutdown", "err", err)
	}
	return nil
}
