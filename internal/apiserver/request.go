package apiserver

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
	"github.com/berth-dev/berth/internal/auth"
)

// request is one resource request, parsed from its path the way upstream's
// RequestInfoFactory does.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	q    url.Values
	user *auth.User
	kind *kinds.Kind
	// namespace is "" for cluster-scoped resources and all-namespace lists.
	namespace string
	name      string
	sub       string
	verb      string // get list watch create update patch delete deletecollection
}

// namespaceSubresources are the subresources of a namespace itself;
// anything else after /namespaces/NAME/ is a resource in that namespace.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// parseResourcePath splits the part of a path after /api/v1/ or
// /apis/G/V/ into namespace, resource, name and subresource.
func parseResourcePath(rest string) (ns, resource, name, sub string, ok bool) {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if len(parts) == 0 || parts[0] == "" {
		return "", "", "", "", false
	}
	if parts[0] == "namespaces" && len(parts) > 2 && !namespaceSubresources[parts[2]] {
		ns, parts = parts[1], parts[2:]
	}
	resource = parts[0]
	if len(parts) > 1 {
		name = parts[1]
	}
	if len(parts) > 2 {
		sub = parts[2]
	}
	// Only the proxy subresources carry a further path.
	if len(parts) > 3 && sub != "proxy" {
		return "", "", "", "", false
	}
	return ns, resource, name, sub, true
}

// splitAPIPath returns the group-version of /api/v1/... or /apis/G/V/...
// and the rest of the path.
func splitAPIPath(p string) (gv schema.GroupVersion, rest string, ok bool) {
	if r, found := strings.CutPrefix(p, "/api/"); found {
		v, rest, _ := strings.Cut(r, "/")
		return schema.GroupVersion{Version: v}, rest, v != ""
	}
	if r, found := strings.CutPrefix(p, "/apis/"); found {
		parts := strings.SplitN(r, "/", 3)
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			return gv, "", false
		}
		if len(parts) == 3 {
			rest = parts[2]
		}
		return schema.GroupVersion{Group: parts[0], Version: parts[1]}, rest, true
	}
	return gv, "", false
}

// verbFor names the request's verb as upstream's authorizer does.
func verbFor(method string, name string, watch bool) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watch:
			return "watch"
		case name == "":
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return ""
}

func isWatch(q url.Values) bool {
	v := q.Get("watch")
	return v == "true" || v == "1"
}

// target is the response shape a client asked for in Accept.
type target int

const (
	targetObject target = iota
	targetTable
	targetPartialMetadata
)

// acceptTarget finds the first JSON media type in Accept that berth can
// answer: a Table, PartialObjectMetadata(List), or the object itself.
func acceptTarget(accept string) (target, string) {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt != "application/json" && mt != "*/*" && mt != "application/*" {
			continue
		}
		as := params["as"]
		if as == "" {
			return targetObject, ""
		}
		if params["g"] != "meta.k8s.io" || (params["v"] != "v1" && params["v"] != "v1beta1") {
			continue
		}
		switch as {
		case "Table":
			return targetTable, params["v"]
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			return targetPartialMetadata, params["v"]
		}
	}
	return targetObject, ""
}
