package apiserver

import (
	"net/http"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
	"github.com/berth-dev/berth/internal/auth"
)

func TestParseResourcePath(t *testing.T) {
	tests := []struct {
		rest                    string
		ns, resource, name, sub string
		ok                      bool
	}{
		{"pods", "", "pods", "", "", true},
		{"namespaces/default/pods", "default", "pods", "", "", true},
		{"namespaces/default/pods/web", "default", "pods", "web", "", true},
		{"namespaces/default/pods/web/status", "default", "pods", "web", "status", true},
		{"namespaces/default/pods/web/log", "default", "pods", "web", "log", true},
		// A namespace itself and its own subresources.
		{"namespaces", "", "namespaces", "", "", true},
		{"namespaces/default", "", "namespaces", "default", "", true},
		{"namespaces/default/status", "", "namespaces", "default", "status", true},
		{"namespaces/default/finalize", "", "namespaces", "default", "finalize", true},
		{"nodes/n1/proxy/metrics/cadvisor", "", "nodes", "n1", "proxy", true},
		{"namespaces/default/pods/web/status/extra", "", "", "", "", false},
		{"", "", "", "", "", false},
	}
	for _, tc := range tests {
		ns, res, name, sub, ok := parseResourcePath(tc.rest)
		if ns != tc.ns || res != tc.resource || name != tc.name || sub != tc.sub || ok != tc.ok {
			t.Errorf("parseResourcePath(%q) = %q %q %q %q %v, want %q %q %q %q %v",
				tc.rest, ns, res, name, sub, ok, tc.ns, tc.resource, tc.name, tc.sub, tc.ok)
		}
	}
}

func TestSplitAPIPath(t *testing.T) {
	tests := []struct {
		path string
		gv   schema.GroupVersion
		rest string
		ok   bool
	}{
		{"/api/v1/pods", schema.GroupVersion{Version: "v1"}, "pods", true},
		{"/apis/apps/v1/namespaces/x/deployments", schema.GroupVersion{Group: "apps", Version: "v1"}, "namespaces/x/deployments", true},
		{"/apis/apps/v1", schema.GroupVersion{Group: "apps", Version: "v1"}, "", true},
		{"/apis/apps", schema.GroupVersion{}, "", false},
		{"/healthz", schema.GroupVersion{}, "", false},
	}
	for _, tc := range tests {
		gv, rest, ok := splitAPIPath(tc.path)
		if gv != tc.gv || rest != tc.rest || ok != tc.ok {
			t.Errorf("splitAPIPath(%q) = %v %q %v, want %v %q %v", tc.path, gv, rest, ok, tc.gv, tc.rest, tc.ok)
		}
	}
}

func TestAcceptTarget(t *testing.T) {
	tests := []struct {
		accept string
		want   target
		ver    string
	}{
		{"application/json", targetObject, ""},
		{"", targetObject, ""},
		// What kubectl get sends.
		{"application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", targetTable, "v1"},
		// The metadata informers: protobuf first, which berth does not answer.
		{"application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json", targetPartialMetadata, "v1"},
		{"application/json;as=Table;v=v2;g=meta.k8s.io, application/json", targetObject, ""},
		{"application/vnd.kubernetes.protobuf, */*", targetObject, ""},
	}
	for _, tc := range tests {
		got, ver := acceptTarget(tc.accept)
		if got != tc.want || ver != tc.ver {
			t.Errorf("acceptTarget(%q) = %v %q, want %v %q", tc.accept, got, ver, tc.want, tc.ver)
		}
	}
}

func TestVerbFor(t *testing.T) {
	tests := []struct {
		method, name string
		watch        bool
		want         string
	}{
		{http.MethodGet, "", false, "list"},
		{http.MethodGet, "x", false, "get"},
		{http.MethodGet, "", true, "watch"},
		{http.MethodPost, "", false, "create"},
		{http.MethodPut, "x", false, "update"},
		{http.MethodPatch, "x", false, "patch"},
		{http.MethodDelete, "x", false, "delete"},
		{http.MethodDelete, "", false, "deletecollection"},
		{http.MethodOptions, "", false, ""},
	}
	for _, tc := range tests {
		if got := verbFor(tc.method, tc.name, tc.watch); got != tc.want {
			t.Errorf("verbFor(%s, %q, %v) = %q, want %q", tc.method, tc.name, tc.watch, got, tc.want)
		}
	}
}

func TestAuthorizeNode(t *testing.T) {
	node := &auth.User{Name: auth.NodeUserPrefix + "n1", Groups: []string{auth.NodesGroup}}
	other := &auth.User{Name: "bob"}
	admin := &auth.User{Name: "admin", Groups: []string{auth.MastersGroup}}
	k := func(res string) *kinds.Kind {
		for _, k := range kinds.All() {
			if k.Resource == res {
				return k
			}
		}
		t.Fatalf("no kind %s", res)
		return nil
	}
	tests := []struct {
		user            *auth.User
		verb, res, name string
		sub, ns         string
		allowed         bool
	}{
		{admin, "delete", "secrets", "s", "", "default", true},
		{node, "get", "secrets", "s", "", "default", true},
		{node, "list", "pods", "", "", "", true},
		{node, "patch", "pods", "p", "status", "default", true},
		{node, "update", "nodes", "n1", "status", "", true},
		{node, "patch", "nodes", "n2", "", "", false},
		{node, "create", "leases", "", "", "kube-node-lease", true},
		{node, "create", "configmaps", "", "", "default", false},
		{node, "create", "pods", "p", "eviction", "default", false},
		{node, "delete", "deployments", "d", "", "default", false},
		{other, "get", "pods", "p", "", "default", false},
		{nil, "get", "pods", "p", "", "default", false},
	}
	for _, tc := range tests {
		rq := &request{user: tc.user, verb: tc.verb, kind: k(tc.res), name: tc.name, sub: tc.sub, namespace: tc.ns}
		if err := authorize(rq, nil); (err == nil) != tc.allowed {
			t.Errorf("%v %s %s/%s %s: err = %v, want allowed=%v", tc.user, tc.verb, tc.res, tc.sub, tc.name, err, tc.allowed)
		}
	}
}
