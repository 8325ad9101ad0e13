package openapi

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"k8s.io/client-go/openapi/openapitest"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// BenchmarkV3Document builds each served group-version's document (routes,
// schemas, JSON, gzip, hash) and reports its sizes. Where client-go embeds
// upstream's document for the same group-version, "x-upstream" is our JSON
// size over upstream's, measured in the same run: near 1 means the same
// paths and schemas (upstream also has /watch/ paths and protobuf/yaml
// response types, which berth does not serve).
func BenchmarkV3Document(b *testing.B) {
	sets, nm := New(kinds.All(), nil).routeSets()
	upstream, err := openapitest.NewEmbeddedFileClient().Paths()
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range sets {
		key := groupVersionPath(s.gv)
		b.Run(key, func(b *testing.B) {
			var d *document
			for b.Loop() {
				if d, err = buildV3Document(s, nm); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(d.size)/1024, "json-KB")
			b.ReportMetric(float64(len(d.gz))/1024, "gz-KB")
			if gv, ok := upstream[key]; ok {
				up, err := gv.Schema("application/json")
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(d.size)/float64(len(up)), "x-upstream")
			}
		})
	}
}

// BenchmarkHandlerMemory builds every document of a Handler (v3 set, v2
// JSON and protobuf) the way the first requests do, and reports what the
// Handler keeps afterwards ("retained-KB", heap after GC) against the raw
// JSON it serves ("raw-KB", what keeping plain bytes would cost), plus what
// building allocates in all ("alloc-MB", garbage once built).
func BenchmarkHandlerMemory(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		h := New(kinds.All(), nil)
		for _, p := range []string{pathV3, pathV2} {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
		}
		req := httptest.NewRequest("GET", pathV2, nil)
		req.Header.Set("Accept", mimeV2ProtoAt)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s (protobuf) = %d", pathV2, rec.Code)
		}
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		runtime.GC()
		runtime.ReadMemStats(&after)
		raw := h.v2.size + h.v2Proto.size + h.v3.root.size
		for _, d := range h.v3.docs {
			raw += d.size
		}
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1024, "retained-KB")
		b.ReportMetric(float64(raw)/1024, "raw-KB")
		b.ReportMetric(float64(alloc)/(1<<20), "alloc-MB")
		runtime.KeepAlive(h)
	}
}
