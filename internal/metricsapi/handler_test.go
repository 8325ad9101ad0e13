package metricsapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth-dev/berth/internal/metricsapi/v1beta1"
)

type fixedSource struct {
	nodes []v1beta1.NodeMetrics
	pods  []v1beta1.PodMetrics
}

func (f fixedSource) Nodes() []v1beta1.NodeMetrics { return f.nodes }
func (f fixedSource) Pods() []v1beta1.PodMetrics   { return f.pods }

func podMetrics(ns, name, app string) v1beta1.PodMetrics {
	return v1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app}},
		Timestamp: metav1.NewTime(t0), Window: metav1.Duration{Duration: 15 * time.Second},
		Containers: []v1beta1.ContainerMetrics{{Name: "c", Usage: usage(250e6, 64<<20)}}}
}

func TestHandler(t *testing.T) {
	src := fixedSource{
		nodes: []v1beta1.NodeMetrics{{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}},
			Timestamp: metav1.NewTime(t0), Window: metav1.Duration{Duration: 15 * time.Second}, Usage: usage(1e9, 1<<30)}},
		pods: []v1beta1.PodMetrics{podMetrics("default", "web-1", "web"), podMetrics("default", "db", "db"), podMetrics("kube-system", "dns", "dns")},
	}
	h := New(src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tests := []struct {
		name, method, path string
		code               int
		want               []string // substrings of the body
	}{
		{"group", "GET", "/apis/metrics.k8s.io", 200, []string{`"kind":"APIGroup"`, `"preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1"`}},
		{"resource list", "GET", "/apis/metrics.k8s.io/v1beta1", 200, []string{`"kind":"APIResourceList"`, `"name":"pods"`, `"kind":"NodeMetrics"`, `"verbs":["get","list"]`}},
		{"nodes", "GET", "/apis/metrics.k8s.io/v1beta1/nodes", 200, []string{`"kind":"NodeMetricsList"`, `"name":"n1"`, `"cpu":"1"`, `"memory":"1Gi"`, `"window":"15s"`}},
		{"nodes by label, none", "GET", "/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Db", 200, []string{`"items":[]`}},
		{"node", "GET", "/apis/metrics.k8s.io/v1beta1/nodes/n1", 200, []string{`"kind":"NodeMetrics"`, `"apiVersion":"metrics.k8s.io/v1beta1"`}},
		{"node missing", "GET", "/apis/metrics.k8s.io/v1beta1/nodes/n9", 404, []string{`nodemetrics.metrics.k8s.io \"n9\" not found`}},
		{"pods in namespace", "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", 200, []string{`"name":"web-1"`, `"name":"db"`, `"cpu":"250m"`, `"memory":"64Mi"`}},
		{"pods by label", "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb", 200, []string{`"name":"web-1"`}},
		{"pods by field", "GET", "/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=metadata.namespace%3Dkube-system", 200, []string{`"name":"dns"`}},
		{"pod", "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/db", 200, []string{`"kind":"PodMetrics"`, `"name":"db"`}},
		{"pod missing", "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope", 404, []string{`podmetrics.metrics.k8s.io \"default/nope\" not found`}},
		{"bad selector", "GET", "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=a%3D%3D%3Db", 400, []string{`"reason":"BadRequest"`}},
		{"unsupported field", "GET", "/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=spec.nodeName%3Dx", 400, []string{`field label not supported: spec.nodeName`}},
		{"write refused", "DELETE", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/db", 405, []string{`"reason":"MethodNotAllowed"`, `delete is not supported on resources of kind \"pods.metrics.k8s.io\"`}},
		{"node write refused", "PUT", "/apis/metrics.k8s.io/v1beta1/nodes/n1", 405, []string{`update is not supported on resources of kind \"nodes.metrics.k8s.io\"`}},
		{"watch refused", "GET", "/apis/metrics.k8s.io/v1beta1/pods?watch=true", 405, []string{`"reason":"MethodNotAllowed"`}},
		{"other version", "GET", "/apis/metrics.k8s.io/v1/nodes", 404, []string{`the server could not find the requested resource`}},
		{"other resource", "GET", "/apis/metrics.k8s.io/v1beta1/services", 404, []string{`"reason":"NotFound"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.Header.Set("Accept", "application/vnd.kubernetes.protobuf, */*")
			h.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != tc.code {
				t.Fatalf("%s %s = %d, want %d: %s", tc.method, tc.path, rec.Code, tc.code, body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s: body lacks %s:\n%s", tc.path, w, body)
				}
			}
		})
	}
}

func TestHandlerFiltersExactly(t *testing.T) {
	src := fixedSource{pods: []v1beta1.PodMetrics{podMetrics("default", "web-1", "web"), podMetrics("default", "db", "db"), podMetrics("kube-system", "web-2", "web")}}
	h := New(src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for path, want := range map[string][]string{
		"/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb": {"default/web-1"},
		"/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dweb":                    {"default/web-1", "kube-system/web-2"},
		"/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=metadata.name%3Ddb":           {"default/db"},
		"/apis/metrics.k8s.io/v1beta1/namespaces/other/pods":                           {},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var list v1beta1.PodMetricsList
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var got []string
		for _, p := range list.Items {
			got = append(got, p.Namespace+"/"+p.Name)
			if q := p.Containers[0].Usage[corev1.ResourceCPU]; q.MilliValue() != 250 {
				t.Errorf("%s: cpu %s, want 250m", path, q.String())
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
}

func TestTableVersion(t *testing.T) {
	for accept, want := range map[string]string{
		"application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json": "v1",
		"application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json":                                             "v1beta1",
		"application/json, application/json;as=Table;v=v1;g=meta.k8s.io":                                                  "",
		"application/vnd.kubernetes.protobuf, */*":                                                                        "",
		"application/json;as=Table;v=v2;g=meta.k8s.io":                                                                    "",
	} {
		got, ok := tableVersion(accept)
		if got != want || ok != (want != "") {
			t.Errorf("tableVersion(%q) = %q, %v; want %q", accept, got, ok, want)
		}
	}
}

func TestTable(t *testing.T) {
	two := podMetrics("default", "web-1", "web")
	two.Containers = append(two.Containers, v1beta1.ContainerMetrics{Name: "side", Usage: usage(50e6, 16<<20)})
	src := fixedSource{
		nodes: []v1beta1.NodeMetrics{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Window: metav1.Duration{Duration: 15 * time.Second}, Usage: usage(1e9, 1<<30)}},
		pods:  []v1beta1.PodMetrics{two},
	}
	h := New(src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tests := []struct {
		path      string
		cells     []any
		wantKind  string // kind of the row's object
		wantNoObj bool
	}{
		{"/apis/metrics.k8s.io/v1beta1/nodes", []any{"n1", "1000m", "1024Mi", "15s"}, "PartialObjectMetadata", false},
		{"/apis/metrics.k8s.io/v1beta1/nodes/n1", []any{"n1", "1000m", "1024Mi", "15s"}, "PartialObjectMetadata", false},
		{"/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", []any{"web-1", "300m", "80Mi", "15s"}, "PartialObjectMetadata", false},
		{"/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web-1?includeObject=Object", []any{"web-1", "300m", "80Mi", "15s"}, "PodMetrics", false},
		{"/apis/metrics.k8s.io/v1beta1/pods?includeObject=None", []any{"web-1", "300m", "80Mi", "15s"}, "", true},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var table metav1.Table
		if err := json.Unmarshal(rec.Body.Bytes(), &table); err != nil || table.Kind != "Table" {
			t.Fatalf("%s: %v %s", tc.path, err, rec.Body.String())
		}
		if len(table.ColumnDefinitions) != 4 || len(table.Rows) != 1 {
			t.Fatalf("%s: %d columns, %d rows", tc.path, len(table.ColumnDefinitions), len(table.Rows))
		}
		row := table.Rows[0]
		if fmt.Sprint(row.Cells) != fmt.Sprint(tc.cells) {
			t.Errorf("%s: cells %v, want %v", tc.path, row.Cells, tc.cells)
		}
		if tc.wantNoObj {
			if row.Object.Raw != nil {
				t.Errorf("%s: row carries %s", tc.path, row.Object.Raw)
			}
			continue
		}
		var obj metav1.PartialObjectMetadata
		if err := json.Unmarshal(row.Object.Raw, &obj); err != nil || obj.Kind != tc.wantKind || obj.Name != tc.cells[0] {
			t.Errorf("%s: row object %s, want kind %s", tc.path, row.Object.Raw, tc.wantKind)
		}
	}
}
