package metricsapi

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/berth-dev/berth/internal/apiserver/openapi"
	"github.com/berth-dev/berth/internal/metricsapi/v1beta1"
)

// TestOpenAPIDocument serves the group's v3 document the way the API
// server does and checks what kubectl explain looks for: the document in
// the v3 root, each kind's schema tagged with its GVK, and the referenced
// generated schemas (ObjectMeta, Quantity) present.
func TestOpenAPIDocument(t *testing.T) {
	srv := httptest.NewServer(openapi.New(nil, nil, openapi.WithV3Definitions(v1beta1.SchemeGroupVersion, OpenAPIDefinitions, OpenAPIResources...)))
	defer srv.Close()
	get := func(path string, into any) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	var root struct {
		Paths map[string]struct{ ServerRelativeURL string }
	}
	get("/openapi/v3", &root)
	entry, ok := root.Paths["apis/metrics.k8s.io/v1beta1"]
	if !ok {
		t.Fatalf("v3 root lists %v, want apis/metrics.k8s.io/v1beta1", root.Paths)
	}
	var doc struct {
		Paths map[string]struct {
			Get struct {
				GVK map[string]string `json:"x-kubernetes-group-version-kind"`
			}
		}
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any
				GVK        []map[string]string `json:"x-kubernetes-group-version-kind"`
			}
		}
	}
	get(entry.ServerRelativeURL, &doc)
	for path, kind := range map[string]string{
		"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}": "PodMetrics",
		"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods":        "PodMetricsList",
		"/apis/metrics.k8s.io/v1beta1/pods":                               "PodMetricsList",
		"/apis/metrics.k8s.io/v1beta1/nodes/{name}":                       "NodeMetrics",
		"/apis/metrics.k8s.io/v1beta1/nodes":                              "NodeMetricsList",
	} {
		if got := doc.Paths[path].Get.GVK; got["group"] != "metrics.k8s.io" || got["kind"] != kind {
			t.Errorf("GET %s names %v, want kind %s (kubectl explain maps resources to kinds by it)", path, got, kind)
		}
	}
	schemas := doc.Components.Schemas
	for name, kind := range map[string]string{modelPodMetrics: "PodMetrics", modelNodeMetrics: "NodeMetrics",
		modelPodMetricsList: "PodMetricsList", modelNodeMetricsList: "NodeMetricsList"} {
		s, ok := schemas[name]
		if !ok {
			t.Errorf("no schema %s", name)
			continue
		}
		want := map[string]string{"group": "metrics.k8s.io", "version": "v1beta1", "kind": kind}
		if len(s.GVK) != 1 || s.GVK[0]["group"] != want["group"] || s.GVK[0]["version"] != want["version"] || s.GVK[0]["kind"] != want["kind"] {
			t.Errorf("%s GVK = %v, want %v", name, s.GVK, want)
		}
	}
	if _, ok := schemas[modelPodMetrics].Properties["containers"]; !ok {
		t.Errorf("PodMetrics has no containers field: %v", schemas[modelPodMetrics].Properties)
	}
	for _, dep := range []string{modelContainer, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "io.k8s.apimachinery.pkg.api.resource.Quantity"} {
		if _, ok := schemas[dep]; !ok {
			t.Errorf("referenced schema %s missing", dep)
		}
	}
}
