package openapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	genopenapi "github.com/berth-dev/berth/gen/openapi"
	"github.com/berth-dev/berth/internal/apiserver/kinds"
	"github.com/berth-dev/berth/internal/version"
)

// Paths this handler answers.
const (
	pathV2 = "/openapi/v2"
	pathV3 = "/openapi/v3"
)

// Media types of /openapi/v2. client-go's discovery client (older kubectl,
// kubectl's v2 fallback) asks for protobuf only.
const (
	mimeJSON      = "application/json"
	mimeV2Proto   = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	mimeV2ProtoAt = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf" // the spelling client-go sends
)

// Handler serves the OpenAPI documents of a fixed set of kinds:
//
//	GET /openapi/v3                      {"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=..."},...}}
//	GET /openapi/v3/api/v1?hash=H        one group-version's document (JSON)
//	GET /openapi/v3/apis/<group>/<ver>
//	GET /openapi/v2                      Swagger 2.0, JSON or protobuf
//
// Documents are built on the first request that needs them (all v3
// documents at once, since the root lists their hashes; v2 separately) and
// then kept gzipped: the v3 set takes about a second of CPU and a few MB
// while building, then a few hundred KB. A document fetched with its
// current ?hash= is immutable and says so (Cache-Control), every document
// has an ETag (the upper-case hex SHA-512 of the JSON, as upstream) and
// answers If-None-Match with 304.
//
// Mount it for every path under /openapi/ (it answers 404 elsewhere); it does
// no authentication of its own.
//
// kube-openapi's handler3 and handler do the same serving but keep the
// plain JSON (and protobuf) of every document in memory, answer an unknown
// group-version with an empty 200, and (v2) need a gzip middleware module
// berth does not otherwise use.
type Handler struct {
	kinds   []*kinds.Kind
	log     *slog.Logger
	extraV3 []extraV3

	v3Once sync.Once
	v3     *v3Set
	v3Err  error

	v2Once sync.Once
	v2     *document
	v2Err  error

	v2ProtoOnce sync.Once
	v2Proto     *document
	v2ProtoErr  error
}

// v3Set is the v3 root and its documents keyed by group-version path.
type v3Set struct {
	root *document
	docs map[string]*document
}

// New returns a Handler for ks (normally kinds.All()). It builds nothing
// until the first request; log receives one warning per kind that has no
// generated schema (and is therefore left out of the documents).
func New(ks []*kinds.Kind, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{kinds: ks, log: log}
	for _, o := range opts {
		o(h)
	}
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "openapi"}, r.Method))
		return
	}
	switch p := r.URL.Path; {
	case p == pathV2:
		h.serveV2(w, r)
	case p == pathV3 || p == pathV3+"/":
		set, err := h.v3Documents()
		if err != nil {
			writeStatus(w, apierrors.NewInternalError(err))
			return
		}
		set.root.serve(w, r, false)
	case strings.HasPrefix(p, pathV3+"/"):
		h.serveV3GroupVersion(w, r, strings.TrimPrefix(p, pathV3+"/"))
	default:
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Resource: "openapi"}, p))
	}
}

func (h *Handler) serveV3GroupVersion(w http.ResponseWriter, r *http.Request, gvPath string) {
	set, err := h.v3Documents()
	if err != nil {
		writeStatus(w, apierrors.NewInternalError(err))
		return
	}
	doc := set.docs[gvPath]
	if doc == nil {
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{Resource: "openapi/v3"}, gvPath))
		return
	}
	if !acceptable(r.Header.Get("Accept"), mimeJSON) {
		writeStatus(w, notAcceptable(r.Header.Get("Accept")))
		return
	}
	immutable := false
	if hash := r.URL.Query().Get("hash"); hash != "" {
		if hash != doc.hash {
			// A stale hash from a client's cache: send it to the current
			// document, as upstream's handler3 does.
			http.Redirect(w, r, serverRelativeURL(gvPath, doc.hash), http.StatusMovedPermanently)
			return
		}
		immutable = true
	}
	doc.serve(w, r, immutable)
}

func (h *Handler) serveV2(w http.ResponseWriter, r *http.Request) {
	switch acceptedType(r.Header.Get("Accept"), mimeJSON, mimeV2Proto, mimeV2ProtoAt) {
	case mimeJSON:
		doc, err := h.v2Document()
		if err != nil {
			writeStatus(w, apierrors.NewInternalError(err))
			return
		}
		doc.serve(w, r, false)
	case mimeV2Proto, mimeV2ProtoAt:
		doc, err := h.v2ProtoDocument()
		if err != nil {
			writeStatus(w, apierrors.NewInternalError(err))
			return
		}
		doc.serve(w, r, false)
	default:
		writeStatus(w, notAcceptable(r.Header.Get("Accept")))
	}
}

// v3Documents builds every v3 document once.
func (h *Handler) v3Documents() (*v3Set, error) {
	h.v3Once.Do(func() {
		start := time.Now()
		h.v3, h.v3Err = h.buildV3()
		if h.v3Err == nil {
			h.logger().Debug("built OpenAPI v3 documents", "groupVersions", len(h.v3.docs), "took", time.Since(start))
		}
	})
	return h.v3, h.v3Err
}

func (h *Handler) v2Document() (*document, error) {
	h.v2Once.Do(func() {
		start := time.Now()
		h.v2, h.v2Err = h.buildV2()
		if h.v2Err == nil {
			h.logger().Debug("built OpenAPI v2 document", "bytes", h.v2.size, "took", time.Since(start))
		}
	})
	return h.v2, h.v2Err
}

// v2ProtoDocument converts the v2 JSON to gnostic's protobuf form, as
// upstream's handler does (kube-openapi pkg/handler ToProtoBinary).
func (h *Handler) v2ProtoDocument() (*document, error) {
	h.v2ProtoOnce.Do(func() {
		v2, err := h.v2Document()
		if err != nil {
			h.v2ProtoErr = err
			return
		}
		body, err := v2.body()
		if err != nil {
			h.v2ProtoErr = err
			return
		}
		parsed, err := openapi_v2.ParseDocument(body)
		if err != nil {
			h.v2ProtoErr = fmt.Errorf("openapi v2 to protobuf: %w", err)
			return
		}
		pb, err := proto.Marshal(parsed)
		if err != nil {
			h.v2ProtoErr = fmt.Errorf("openapi v2 to protobuf: %w", err)
			return
		}
		h.v2Proto, h.v2ProtoErr = newDocument(pb, mimeV2Proto)
	})
	return h.v2Proto, h.v2ProtoErr
}

// routeSets returns the routes of every kind that has a schema, logging the
// ones left out, and the namer for the group-versions they cover.
func (h *Handler) routeSets() ([]*routeSet, *namer) {
	defined := definedModels()
	sets, skipped := buildRouteSets(h.kinds, func(name string) bool { return defined[name] })
	for _, s := range skipped {
		h.logger().Warn("kind left out of OpenAPI", "reason", s)
	}
	served := make(map[schema.GroupVersion]bool, len(sets))
	for _, s := range sets {
		served[s.gv] = true
	}
	return sets, newNamer(served)
}

// definedModels is the set of model names gen/openapi has schemas for.
func definedModels() map[string]bool {
	defs := genopenapi.GetOpenAPIDefinitions(func(string) spec.Ref { return spec.Ref{} })
	names := make(map[string]bool, len(defs))
	for name := range defs {
		names[name] = true
	}
	return names
}

func (h *Handler) buildV3() (*v3Set, error) {
	sets, nm := h.routeSets()
	defs := v3Definitions()
	set := &v3Set{docs: make(map[string]*document, len(sets))}
	root := struct {
		Paths map[string]rootEntry `json:"paths"`
	}{Paths: make(map[string]rootEntry, len(sets))}
	for _, s := range sets {
		d, err := buildV3Document(s, nm, defs)
		if err != nil {
			return nil, err
		}
		key := groupVersionPath(s.gv)
		set.docs[key] = d
		root.Paths[key] = rootEntry{ServerRelativeURL: serverRelativeURL(key, d.hash)}
	}
	for _, e := range h.extraV3 {
		d, err := buildExtraV3Document(e, defs)
		if err != nil {
			return nil, err
		}
		key := groupVersionPath(e.gv)
		set.docs[key] = d
		root.Paths[key] = rootEntry{ServerRelativeURL: serverRelativeURL(key, d.hash)}
	}
	body, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("openapi v3 root: %w", err)
	}
	if set.root, err = newDocument(body, mimeJSON); err != nil {
		return nil, fmt.Errorf("openapi v3 root: %w", err)
	}
	return set, nil
}

// v3Definitions returns the generated schemas with v3 references, made once
// for all documents: building them takes about 2 MB and a few ms each time.
func v3Definitions() map[string]common.OpenAPIDefinition {
	return genopenapi.GetOpenAPIDefinitions(func(name string) spec.Ref {
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(name))
	})
}

// buildV3Document builds and marshals one group-version's document. defs
// may be shared by the documents of one namer, built one after another:
// builder3 copies each schema it uses but writes the namer's extensions
// into the schema's own extension map, the same value every time.
func buildV3Document(s *routeSet, nm *namer, defs map[string]common.OpenAPIDefinition) (*document, error) {
	cfg := &common.OpenAPIV3Config{
		// Upstream's per-group-version documents say "unversioned" too.
		Info:              &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: "unversioned"}},
		Definitions:       defs,
		GetDefinitionName: nm.definitionName,
		CommonResponses:   map[int]*spec3.Response{http.StatusUnauthorized: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}}},
	}
	doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{s}, cfg)
	if err != nil {
		return nil, fmt.Errorf("openapi v3 %s: %w", s.gv, err)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi v3 %s: %w", s.gv, err)
	}
	d, err := newDocument(body, mimeJSON)
	if err != nil {
		return nil, fmt.Errorf("openapi v3 %s: %w", s.gv, err)
	}
	return d, nil
}

// rootEntry is one group-version in the v3 root (kube-openapi handler3
// OpenAPIV3DiscoveryGroupVersion, which client-go decodes).
type rootEntry struct {
	ServerRelativeURL string `json:"serverRelativeURL"`
}

func serverRelativeURL(gvPath, hash string) string {
	return pathV3 + "/" + gvPath + "?" + url.Values{"hash": {hash}}.Encode()
}

func (h *Handler) buildV2() (*document, error) {
	sets, nm := h.routeSets()
	containers := make([]common.RouteContainer, len(sets))
	for i, s := range sets {
		containers[i] = s
	}
	cfg := &common.Config{
		Info:              &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: version.KubeGitVersion}},
		GetDefinitions:    genopenapi.GetOpenAPIDefinitions,
		GetDefinitionName: nm.definitionName,
		CommonResponses:   map[int]spec.Response{http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}},
	}
	doc, err := builder.BuildOpenAPISpecFromRoutes(containers, cfg)
	if err != nil {
		return nil, fmt.Errorf("openapi v2: %w", err)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi v2: %w", err)
	}
	return newDocument(body, mimeJSON)
}

func (h *Handler) logger() *slog.Logger {
	if h.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.log
}

func notAcceptable(accept string) *apierrors.StatusError {
	return apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "get", schema.GroupResource{Resource: "openapi"}, "",
		fmt.Sprintf("only %s is served here, not %q", mimeJSON, accept), 0, false)
}

// writeStatus answers err as a metav1.Status, the error body Kubernetes
// clients decode.
func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.Status()
	st.Kind, st.APIVersion = "Status", metav1.SchemeGroupVersion.String()
	body, _ := json.Marshal(st) // a Status always marshals
	w.Header().Set("Content-Type", mimeJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(body) // the client went away; nothing to do
}
