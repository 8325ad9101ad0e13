// Package apiserver is berth's Kubernetes API server: the HTTP layer over
// internal/storage for every kind in internal/apiserver/kinds, with
// discovery, Table output, patches, watch and the generic object metadata
// rules. It authenticates callers by client certificate (internal/auth).
package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/berth-dev/berth/internal/admission"
	"github.com/berth-dev/berth/internal/apiserver/kinds"
	"github.com/berth-dev/berth/internal/apiserver/nodeproxy"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/storage"
	berthversion "github.com/berth-dev/berth/internal/version"
)

// Config wires a Server.
type Config struct {
	Store *storage.Store
	PKI   *auth.PKI
	Token string // the node join token
	// ServiceAccountTokens signs TokenRequests and verifies bearer tokens;
	// nil serves neither.
	ServiceAccountTokens *auth.TokenSigner
	// RBAC authorizes callers that are neither system:masters nor nodes;
	// nil forbids them everything.
	RBAC *rbac.Authorizer
	// Admission may be nil (no admission plugins).
	Admission admission.Interface
	// NodeProxy serves pods/{log,exec,attach,portforward} and nodes/proxy.
	NodeProxy nodeproxy.Handler
	// OpenAPI serves /openapi/v2 and /openapi/v3...; nil answers 404.
	OpenAPI http.Handler
	// Extensions are API groups served by handlers of their own (metrics.k8s.io).
	Extensions []Extension
	Log        *slog.Logger
}

// Server is the API server's http.Handler.
type Server struct {
	cfg Config
	// stopping closes when the server shuts down: it ends open watches,
	// which http.Server.Shutdown would otherwise wait on.
	stopping     chan struct{}
	stoppingOnce sync.Once
	ready        atomic.Bool
	mux          *http.ServeMux
	byGVR        map[schema.GroupVersionResource]*kinds.Kind
	disc         *discovery
	fields       fieldManagers
	verified     verifiedTokens
}

// New returns a Server; it answers /readyz with 503 until SetReady.
func New(cfg Config) *Server {
	if cfg.NodeProxy == nil {
		cfg.NodeProxy = nodeproxy.NotImplemented
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), byGVR: map[schema.GroupVersionResource]*kinds.Kind{}, stopping: make(chan struct{})}
	for _, k := range kinds.All() {
		s.byGVR[k.GroupVersionResource()] = k
	}
	s.disc = buildDiscovery(kinds.All())
	s.routes()
	s.addExtensions(cfg.Extensions)
	if cfg.Store != nil {
		// Watch hubs for every resource from the start, so that the first
		// informers' watches (after their lists) are served from them too.
		var prefixes []string
		for _, k := range kinds.All() {
			prefixes = append(prefixes, storage.Key(k.Storage.Group, k.StorageResource, "", ""))
		}
		if err := cfg.Store.StartWatchCache(prefixes); err != nil {
			cfg.Log.Warn("watch cache not started; watches go to etcd directly", "err", err)
		}
	}
	return s
}

// SetReady makes /readyz answer ok.
func (s *Server) SetReady() { s.ready.Store(true) }

// Stop ends open watches (clients resume them elsewhere or after a
// restart) and makes /readyz fail; call it before http.Server.Shutdown.
func (s *Server) Stop() {
	s.ready.Store(false)
	s.stoppingOnce.Do(func() { close(s.stopping) })
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /version", s.serveVersion)
	s.mux.HandleFunc("POST "+auth.JoinPath, s.serveJoin)
	if s.cfg.OpenAPI != nil {
		s.mux.Handle("/openapi/", s.cfg.OpenAPI)
	}
	s.mux.HandleFunc("POST "+ssarPath, s.serveSelfSubjectAccessReview)
	s.mux.HandleFunc("/api", s.serveAPI)
	s.mux.HandleFunc("/api/", s.serveAPI)
	s.mux.HandleFunc("/apis", s.serveAPI)
	s.mux.HandleFunc("/apis/", s.serveAPI)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, errNoResource()) })
}

// serveAPI serves discovery documents and resource paths.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && s.serveDiscovery(w, r) {
		return
	}
	gv, rest, ok := splitAPIPath(r.URL.Path)
	if !ok || rest == "" {
		writeError(w, errNoResource())
		return
	}
	s.serveResource(w, r, gv, rest)
}

// publicPaths are served to anyone, as upstream's system:public-info-viewer
// role grants them to unauthenticated callers.
func publicPath(p string) bool {
	switch p {
	case "/healthz", "/livez", "/readyz", "/version", auth.JoinPath:
		return true
	}
	return false
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer s.recoverPanic(w, r)
	switch r.URL.Path {
	case "/healthz", "/livez":
		writeText(w, http.StatusOK, "ok")
		return
	case "/readyz":
		if s.ready.Load() {
			writeText(w, http.StatusOK, "ok")
		} else {
			writeText(w, http.StatusServiceUnavailable, "not ready")
		}
		return
	}
	if publicPath(r.URL.Path) {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.authenticated(s.mux).ServeHTTP(w, r)
}

// recoverPanic turns a handler's panic into a logged 500 Status, as
// upstream's panic filter does, instead of net/http's silent reset.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v) // a deliberate abort (a proxied stream ending)
	}
	s.cfg.Log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
	writeError(w, apierrors.NewInternalError(fmt.Errorf("panic: %v", v)))
}

func (s *Server) authenticated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := s.authenticate(r)
		if u == nil {
			writeError(w, errUnauthorized())
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, &version.Info{
		Major:      berthversion.KubeMajor,
		Minor:      berthversion.KubeMinor,
		GitVersion: berthversion.KubeGitVersion,
		GoVersion:  runtime.Version(),
		Compiler:   runtime.Compiler,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	})
}

// serveJoin exchanges the join token for a node client certificate (see
// auth.Join for the client side and the wire format).
func (s *Server) serveJoin(w http.ResponseWriter, r *http.Request) {
	if !auth.BearerMatches(r, s.cfg.Token) {
		writeError(w, errUnauthorized())
		return
	}
	var req auth.JoinRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
		writeError(w, apierrors.NewBadRequest("join request: "+err.Error()))
		return
	}
	if req.NodeName == "" || strings.ContainsAny(req.NodeName, "/: ") {
		writeError(w, apierrors.NewBadRequest("join request: nodeName is required and must be a DNS name"))
		return
	}
	cert, key, err := s.cfg.PKI.IssueClient(auth.NodeUserPrefix+req.NodeName, []string{auth.NodesGroup})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, &auth.JoinResponse{CACert: string(s.cfg.PKI.CAPEM), ClientCert: string(cert), ClientKey: string(key)})
}

func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}
