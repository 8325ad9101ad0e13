package openapi

import (
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
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
	defs := v3Definitions()
	upstream, err := openapitest.NewEmbeddedFileClient().Paths()
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range sets {
		key := groupVersionPath(s.gv)
		b.Run(key, func(b *testing.B) {
			var d *document
			for b.Loop() {
				if d, err = buildV3Document(s, nm, defs); err != nil {
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
// building allocates in all ("alloc-MB", garbage once built). Run once in a
// fresh process (-benchtime 1x), it also reports the process's peak RSS
// growth while building ("peak-rss-MB") and its RSS growth once the garbage
// is returned to the OS ("rss-MB"); "v3-peak-rss-MB" is the peak growth
// after the v3 set alone, all a current kubectl asks for.
func BenchmarkHandlerMemory(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		debug.FreeOSMemory()
		rss0, hwm0 := procRSS(b)
		runtime.ReadMemStats(&before)
		h := New(kinds.All(), nil)
		// What a current kubectl triggers: the v3 set only.
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", pathV3, nil))
		_, hwmV3 := procRSS(b)
		b.ReportMetric(float64(hwmV3-hwm0)/1024, "v3-peak-rss-MB")
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", pathV2, nil))
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
		_, hwm := procRSS(b)
		debug.FreeOSMemory()
		rss, _ := procRSS(b)
		b.ReportMetric(float64(hwm-hwm0)/1024, "peak-rss-MB")
		b.ReportMetric(float64(rss-rss0)/1024, "rss-MB")
		runtime.KeepAlive(h)
	}
}

// procRSS returns this process's VmRSS and VmHWM (peak RSS) in KiB.
func procRSS(b *testing.B) (rss, hwm int64) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64) // the kernel writes plain numbers
		switch f[0] {
		case "VmRSS:":
			rss = n
		case "VmHWM:":
			hwm = n
		}
	}
	return rss, hwm
}
