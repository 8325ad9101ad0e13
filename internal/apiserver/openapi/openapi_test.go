package openapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	genopenapi "github.com/berth-dev/berth/gen/openapi"
	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// testKinds covers the shapes the documents must describe: namespaced and
// cluster-scoped, status/scale/connect subresources, a resource served at two
// versions (HPA), and a kind without a generated schema.
func testKinds() []*kinds.Kind {
	k := func(gvk schema.GroupVersionKind, resource string, namespaced bool, newObj, newList func() runtime.Object, subs ...string) *kinds.Kind {
		return &kinds.Kind{GVK: gvk, Resource: resource, Namespaced: namespaced, New: newObj, NewList: newList, Subresources: subs}
	}
	return []*kinds.Kind{
		k(corev1.SchemeGroupVersion.WithKind("Pod"), "pods", true,
			func() runtime.Object { return &corev1.Pod{} }, func() runtime.Object { return &corev1.PodList{} },
			"status", "binding", "eviction", "log", "exec", "attach", "portforward"),
		k(corev1.SchemeGroupVersion.WithKind("Namespace"), "namespaces", false,
			func() runtime.Object { return &corev1.Namespace{} }, func() runtime.Object { return &corev1.NamespaceList{} },
			"status", "finalize"),
		k(corev1.SchemeGroupVersion.WithKind("Node"), "nodes", false, nil, nil, "status", "proxy"),
		k(appsv1.SchemeGroupVersion.WithKind("Deployment"), "deployments", true,
			func() runtime.Object { return &appsv1.Deployment{} }, func() runtime.Object { return &appsv1.DeploymentList{} },
			"status", "scale"),
		k(autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), "horizontalpodautoscalers", true,
			func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
			func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} }, "status"),
		k(autoscalingv1.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), "horizontalpodautoscalers", true,
			func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscaler{} },
			func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscalerList{} }, "status"),
		k(rbacv1.SchemeGroupVersion.WithKind("ClusterRole"), "clusterroles", false,
			func() runtime.Object { return &rbacv1.ClusterRole{} }, func() runtime.Object { return &rbacv1.ClusterRoleList{} }),
		// No schema is generated for admissionregistration: left out, not fatal.
		k(admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingWebhookConfiguration"), "validatingwebhookconfigurations", false,
			func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} },
			func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfigurationList{} }),
	}
}

// server is shared by the tests: building the documents is the slow part.
var testServer = httptest.NewServer(New(testKinds(), nil))

func get(t *testing.T, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", testServer.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// No redirects followed: the tests look at them.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// root returns client-go's view of /openapi/v3, as kubectl builds it.
func root(t *testing.T) openapi3.Root {
	t.Helper()
	rc, err := rest.RESTClientFor(&rest.Config{Host: testServer.URL, ContentConfig: rest.ContentConfig{
		GroupVersion:         &schema.GroupVersion{},
		NegotiatedSerializer: scheme.Codecs.WithoutConversion(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return openapi3.NewRoot(openapi.NewClient(rc))
}

func gvSpec(t *testing.T, gv schema.GroupVersion) *spec3.OpenAPI {
	t.Helper()
	doc, err := root(t).GVSpec(gv)
	if err != nil {
		t.Fatalf("GVSpec(%s) = %v", gv, err)
	}
	return doc
}

func TestRootListsEveryServedGroupVersion(t *testing.T) {
	gvs, err := root(t).GroupVersions()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, gv := range gvs {
		got = append(got, gv.String())
	}
	want := []string{"apps/v1", "autoscaling/v1", "autoscaling/v2", "rbac.authorization.k8s.io/v1", "v1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("GroupVersions() = %v, want %v (admissionregistration has no schema and must be left out)", got, want)
	}
	for _, gv := range gvs {
		doc := gvSpec(t, gv)
		if len(doc.Paths.Paths) == 0 || len(doc.Components.Schemas) == 0 {
			t.Errorf("%s: %d paths, %d schemas; want both non-empty", gv, len(doc.Paths.Paths), len(doc.Components.Schemas))
		}
	}
}

func gvkExt(t *testing.T, ext spec.Extensions) map[string]interface{} {
	t.Helper()
	m, ok := ext[extensionGVK].(map[string]interface{})
	if !ok {
		t.Fatalf("%s = %#v, want an object", extensionGVK, ext[extensionGVK])
	}
	return m
}

// TestPatchOperationsLetTheServerValidate checks what kubectl's
// queryParamVerifierV3 looks for: on every PATCH operation of a kind, the
// kind's GVK and a fieldValidation parameter; and the four patch bodies.
func TestPatchOperationsLetTheServerValidate(t *testing.T) {
	tests := []struct {
		gv   schema.GroupVersion
		path string
		gvk  map[string]interface{}
	}{
		{corev1.SchemeGroupVersion, "/api/v1/namespaces/{namespace}/pods/{name}", map[string]interface{}{"group": "", "version": "v1", "kind": "Pod"}},
		{corev1.SchemeGroupVersion, "/api/v1/namespaces/{namespace}/pods/{name}/status", map[string]interface{}{"group": "", "version": "v1", "kind": "Pod"}},
		{corev1.SchemeGroupVersion, "/api/v1/namespaces/{name}", map[string]interface{}{"group": "", "version": "v1", "kind": "Namespace"}},
		{appsv1.SchemeGroupVersion, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", map[string]interface{}{"group": "apps", "version": "v1", "kind": "Deployment"}},
		{appsv1.SchemeGroupVersion, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", map[string]interface{}{"group": "autoscaling", "version": "v1", "kind": "Scale"}},
		{autoscalingv2.SchemeGroupVersion, "/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/{name}", map[string]interface{}{"group": "autoscaling", "version": "v2", "kind": "HorizontalPodAutoscaler"}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			p := gvSpec(t, tc.gv).Paths.Paths[tc.path]
			if p == nil || p.Patch == nil {
				t.Fatalf("no PATCH at %s", tc.path)
			}
			op := p.Patch
			if got := gvkExt(t, op.Extensions); !equalJSON(got, tc.gvk) {
				t.Errorf("PATCH %s gvk = %v, want %v", tc.path, got, tc.gvk)
			}
			if op.Extensions["x-kubernetes-action"] != "patch" {
				t.Errorf("PATCH %s action = %v, want patch", tc.path, op.Extensions["x-kubernetes-action"])
			}
			var params []string
			for _, prm := range op.Parameters {
				params = append(params, prm.Name)
			}
			sort.Strings(params)
			if want := "dryRun fieldManager fieldValidation force"; strings.Join(params, " ") != want {
				t.Errorf("PATCH %s parameters = %v, want %s", tc.path, params, want)
			}
			var types []string
			for ct, mt := range op.RequestBody.Content {
				types = append(types, ct)
				if ref := mt.Schema.Ref.String(); ref != "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch" {
					t.Errorf("PATCH %s %s schema = %q, want meta/v1 Patch", tc.path, ct, ref)
				}
			}
			sort.Strings(types)
			if want := strings.Join(patchTypes, " "); strings.Join(types, " ") != want {
				t.Errorf("PATCH %s content types = %v, want %s", tc.path, types, want)
			}
		})
	}
}

func equalJSON(a, b interface{}) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestSchemasCarryTheirKinds checks what kubectl explain looks for: the
// kind's schema under its friendly name, tagged with its GVKs.
func TestSchemasCarryTheirKinds(t *testing.T) {
	tests := []struct {
		gv     schema.GroupVersion
		schema string
		want   string
	}{
		{corev1.SchemeGroupVersion, "io.k8s.api.core.v1.Pod", `[{"group":"","kind":"Pod","version":"v1"}]`},
		{appsv1.SchemeGroupVersion, "io.k8s.api.apps.v1.Deployment", `[{"group":"apps","kind":"Deployment","version":"v1"}]`},
		{appsv1.SchemeGroupVersion, "io.k8s.api.autoscaling.v1.Scale", `[{"group":"autoscaling","kind":"Scale","version":"v1"}]`},
		{autoscalingv2.SchemeGroupVersion, "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler", `[{"group":"autoscaling","kind":"HorizontalPodAutoscaler","version":"v2"}]`},
		// A meta type is a kind of every served group-version, and only those.
		{corev1.SchemeGroupVersion, "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", `[{"group":"","kind":"DeleteOptions","version":"v1"},` +
			`{"group":"apps","kind":"DeleteOptions","version":"v1"},{"group":"autoscaling","kind":"DeleteOptions","version":"v1"},` +
			`{"group":"autoscaling","kind":"DeleteOptions","version":"v2"},{"group":"rbac.authorization.k8s.io","kind":"DeleteOptions","version":"v1"}]`},
	}
	for _, tc := range tests {
		t.Run(tc.schema, func(t *testing.T) {
			s := gvSpec(t, tc.gv).Components.Schemas[tc.schema]
			if s == nil {
				t.Fatalf("no schema %s in %s", tc.schema, tc.gv)
			}
			got, _ := json.Marshal(s.Extensions[extensionGVK])
			if string(got) != tc.want {
				t.Errorf("%s %s = %s, want %s", tc.schema, extensionGVK, got, tc.want)
			}
		})
	}
	// Field docs are what explain prints.
	pod := gvSpec(t, corev1.SchemeGroupVersion).Components.Schemas["io.k8s.api.core.v1.ContainerPort"]
	if pod == nil || !strings.Contains(pod.Properties["containerPort"].Description, "Number of port to expose") {
		t.Errorf("ContainerPort.containerPort has no upstream description: %+v", pod)
	}
}

func TestOperationsOfEveryPath(t *testing.T) {
	doc := gvSpec(t, corev1.SchemeGroupVersion)
	tests := []struct {
		path, method, id, action, kind string
	}{
		{"/api/v1/namespaces/{namespace}/pods", "GET", "listCoreV1NamespacedPod", "list", "Pod"},
		{"/api/v1/namespaces/{namespace}/pods", "POST", "createCoreV1NamespacedPod", "post", "Pod"},
		{"/api/v1/namespaces/{namespace}/pods", "DELETE", "deleteCoreV1CollectionNamespacedPod", "deletecollection", "Pod"},
		{"/api/v1/pods", "GET", "listCoreV1PodForAllNamespaces", "list", "Pod"},
		{"/api/v1/namespaces/{namespace}/pods/{name}", "PUT", "replaceCoreV1NamespacedPod", "put", "Pod"},
		{"/api/v1/namespaces/{namespace}/pods/{name}", "DELETE", "deleteCoreV1NamespacedPod", "delete", "Pod"},
		{"/api/v1/namespaces/{namespace}/pods/{name}/binding", "POST", "createCoreV1NamespacedPodBinding", "post", "Binding"},
		{"/api/v1/namespaces/{namespace}/pods/{name}/eviction", "POST", "createCoreV1NamespacedPodEviction", "post", "Eviction"},
		{"/api/v1/namespaces/{namespace}/pods/{name}/log", "GET", "readCoreV1NamespacedPodLog", "get", "Pod"},
		{"/api/v1/namespaces/{namespace}/pods/{name}/exec", "POST", "connectPostCoreV1NamespacedPodExec", "connect", "PodExecOptions"},
		{"/api/v1/namespaces/{namespace}/pods/{name}/portforward", "GET", "connectGetCoreV1NamespacedPodPortForward", "connect", "PodPortForwardOptions"},
		{"/api/v1/nodes/{name}/proxy", "DELETE", "connectDeleteCoreV1NodeProxy", "connect", "NodeProxyOptions"},
		{"/api/v1/namespaces/{name}/finalize", "PUT", "replaceCoreV1NamespaceFinalize", "put", "Namespace"},
		{"/api/v1/namespaces", "GET", "listCoreV1Namespace", "list", "Namespace"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			p := doc.Paths.Paths[tc.path]
			if p == nil {
				t.Fatalf("no path %s", tc.path)
			}
			op := map[string]*spec3.Operation{"GET": p.Get, "POST": p.Post, "PUT": p.Put, "DELETE": p.Delete}[tc.method]
			if op == nil {
				t.Fatalf("no %s %s", tc.method, tc.path)
			}
			if op.OperationId != tc.id || op.Extensions["x-kubernetes-action"] != tc.action || gvkExt(t, op.Extensions)["kind"] != tc.kind {
				t.Errorf("%s %s = %s %v %v, want %s %s %s", tc.method, tc.path, op.OperationId,
					op.Extensions["x-kubernetes-action"], gvkExt(t, op.Extensions)["kind"], tc.id, tc.action, tc.kind)
			}
		})
	}
	if doc.Paths.Paths["/api/v1/namespaces/{namespace}/nodes"] != nil || doc.Paths.Paths["/api/v1/namespaces/{namespace}/namespaces"] != nil {
		t.Error("cluster-scoped kinds got namespaced paths")
	}
}

func TestCaching(t *testing.T) {
	disco := get(t, "/openapi/v3", nil)
	var r struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(readAll(t, disco), &r); err != nil {
		t.Fatal(err)
	}
	u := r.Paths["apis/autoscaling/v2"].ServerRelativeURL
	if !strings.HasPrefix(u, "/openapi/v3/apis/autoscaling/v2?hash=") {
		t.Fatalf("autoscaling/v2 serverRelativeURL = %q", u)
	}
	hash := strings.TrimPrefix(u, "/openapi/v3/apis/autoscaling/v2?hash=")

	first := get(t, u, map[string]string{"Accept": "application/json"})
	body := readAll(t, first)
	if first.StatusCode != 200 || first.Header.Get("ETag") != `"`+hash+`"` ||
		first.Header.Get("Cache-Control") != "public, immutable" {
		t.Errorf("GET %s = %d ETag %s Cache-Control %q, want 200, the hash, public, immutable",
			u, first.StatusCode, first.Header.Get("ETag"), first.Header.Get("Cache-Control"))
	}

	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
	}{
		{"If-None-Match with the ETag", u, map[string]string{"If-None-Match": first.Header.Get("ETag")}, 304},
		{"If-None-Match with another ETag", u, map[string]string{"If-None-Match": `"ABC"`}, 200},
		{"stale hash redirects to the current one", "/openapi/v3/apis/autoscaling/v2?hash=ABC", nil, 301},
		{"unserved group-version", "/openapi/v3/apis/policy/v1", nil, 404},
		{"protobuf only is not served for v3", u, map[string]string{"Accept": "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"}, 406},
		{"root ETag", "/openapi/v3", map[string]string{"If-None-Match": disco.Header.Get("ETag")}, 304},
		{"v2 ETag", "/openapi/v2", map[string]string{"If-None-Match": get(t, "/openapi/v2", nil).Header.Get("ETag")}, 304},
		{"elsewhere", "/openapi/v4", nil, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, tc.path, tc.hdr)
			if resp.StatusCode != tc.status {
				t.Errorf("GET %s %v = %d, want %d", tc.path, tc.hdr, resp.StatusCode, tc.status)
			}
			if tc.status == 301 && resp.Header.Get("Location") != u {
				t.Errorf("redirect to %q, want %q", resp.Header.Get("Location"), u)
			}
		})
	}

	// The same bytes gzipped (for clients that ask) and plain.
	gz := get(t, u, map[string]string{"Accept-Encoding": "gzip"})
	if gz.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", gz.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	inflated, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(inflated, body) {
		t.Errorf("gzipped body differs from the plain one (%d vs %d bytes)", len(inflated), len(body))
	}
}

func TestV2(t *testing.T) {
	resp := get(t, "/openapi/v2", map[string]string{"Accept": "application/json"})
	var sw spec.Swagger
	if err := json.Unmarshal(readAll(t, resp), &sw); err != nil {
		t.Fatalf("v2 JSON: %v", err)
	}
	op := sw.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}"].Patch
	if op == nil {
		t.Fatal("v2 has no pods PATCH")
	}
	if got := strings.Join(op.Consumes, " "); got != strings.Join(patchTypes, " ") {
		t.Errorf("v2 pods PATCH consumes %s", got)
	}
	got, _ := json.Marshal(sw.Definitions["io.k8s.api.apps.v1.Deployment"].Extensions[extensionGVK])
	if want := `[{"group":"apps","kind":"Deployment","version":"v1"}]`; string(got) != want {
		t.Errorf("v2 Deployment %s = %s, want %s", extensionGVK, got, want)
	}
	podSpec := sw.Definitions["io.k8s.api.core.v1.Pod"].Properties["spec"]
	if ref := podSpec.Ref.String(); ref != "#/definitions/io.k8s.api.core.v1.PodSpec" {
		t.Errorf("v2 Pod.spec $ref = %q", ref)
	}

	// client-go's discovery client (OpenAPISchema) asks for this exact type.
	pb := get(t, "/openapi/v2", map[string]string{"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
	var doc openapi_v2.Document
	if err := proto.Unmarshal(readAll(t, pb), &doc); err != nil {
		t.Fatalf("v2 protobuf: %v", err)
	}
	found := false
	for _, d := range doc.GetDefinitions().GetAdditionalProperties() {
		found = found || d.GetName() == "io.k8s.api.core.v1.Pod"
	}
	if !found {
		t.Error("v2 protobuf has no io.k8s.api.core.v1.Pod definition")
	}
}

// TestServedKindsHaveSchemas guards hack/gen-openapi.sh: every kind berth
// serves must have a generated schema, or kubectl cannot validate it.
func TestServedKindsHaveSchemas(t *testing.T) {
	defined := definedModels()
	_, skipped := buildRouteSets(kinds.All(), func(name string) bool { return defined[name] })
	for _, s := range skipped {
		t.Errorf("served kind or subresource missing from the documents (a kind needs its package in hack/gen-openapi.sh, a subresource a case in subresourceRoutes): %s", s)
	}
}

func TestAcceptedType(t *testing.T) {
	tests := []struct {
		accept string
		offers []string
		want   string
	}{
		{"", []string{"application/json"}, "application/json"},
		{"application/json", []string{"application/json"}, "application/json"},
		{"*/*", []string{"application/json", mimeV2ProtoAt}, "application/json"},
		{"application/com.github.proto-openapi.spec.v2@v1.0+protobuf", []string{"application/json", mimeV2Proto, mimeV2ProtoAt}, mimeV2ProtoAt},
		{"application/json;q=0, text/plain", []string{"application/json"}, ""},
		{"text/html, application/*;q=0.5", []string{"application/json"}, "application/json"},
	}
	for _, tc := range tests {
		if got := acceptedType(tc.accept, tc.offers...); got != tc.want {
			t.Errorf("acceptedType(%q, %v) = %q, want %q", tc.accept, tc.offers, got, tc.want)
		}
	}
}

// TestGeneratedDefinitionsAreClosed guards hack/gen-openapi.sh: every type a
// generated schema refers to must be generated too (k8s.io/api types refer
// across packages, e.g. batch/v1 Job to scheduling/v1alpha3), or building
// the document that reaches it fails.
func TestGeneratedDefinitionsAreClosed(t *testing.T) {
	defs := genopenapi.GetOpenAPIDefinitions(func(string) spec.Ref { return spec.Ref{} })
	for name, def := range defs {
		for _, dep := range def.Dependencies {
			if _, ok := defs[dep]; !ok {
				t.Errorf("%s refers to %s, which has no generated schema (add its package to hack/gen-openapi.sh)", name, dep)
			}
		}
	}
}
