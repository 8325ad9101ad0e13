package metricsapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func u(v uint64) *uint64 { return &v }

func node(name string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
}

func pod(ns, name, uid string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), Labels: map[string]string{"app": name}}}
}

// sum is a summary of node n at time at: node cpu total, and per pod uid a
// list of (container, cumulative cpu ns, working set) readings.
func sum(n string, at time.Time, nodeCPU uint64, pods map[string][]containerStats) *summary {
	s := &summary{Node: nodeStats{NodeName: n,
		CPU:    &cpuStats{Time: metav1.NewTime(at), UsageCoreNanoSeconds: u(nodeCPU)},
		Memory: &memoryStats{Time: metav1.NewTime(at), WorkingSetBytes: u(1 << 30)}}}
	for uid, cs := range pods {
		s.Pods = append(s.Pods, podStats{PodRef: podReference{Name: "p-" + uid, Namespace: "default", UID: uid}, Containers: cs})
	}
	return s
}

func ctr(name string, start, at time.Time, cpu, ws uint64) containerStats {
	return containerStats{Name: name, StartTime: metav1.NewTime(start),
		CPU: &cpuStats{Time: metav1.NewTime(at), UsageCoreNanoSeconds: u(cpu)}, Memory: &memoryStats{Time: metav1.NewTime(at), WorkingSetBytes: u(ws)}}
}

func TestCollect(t *testing.T) {
	nodes := []corev1.Node{node("n1")}
	pods := []corev1.Pod{pod("default", "web", "u1")}
	t1 := t0.Add(15 * time.Second)
	first := sum("n1", t0, 10e9, map[string][]containerStats{"u1": {ctr("c", t0, t0, 1e9, 5<<20)}})
	prev, nm, pm := collect(nil, nodes, pods, []*summary{first})
	if len(nm) != 0 || len(pm) != 0 {
		t.Fatalf("first scrape reported %d nodes, %d pods; want none (no rate yet)", len(nm), len(pm))
	}

	tests := []struct {
		name      string
		sum       *summary
		wantNode  string // cpu of n1, "" for absent
		wantPod   string // cpu of web's container c, "" for absent
		wantMem   string
		wantWin   time.Duration
		wantPrevN bool // whether n1 keeps samples for the next scrape
	}{
		{"half a core over 15s", sum("n1", t1, 10e9+30e9, map[string][]containerStats{"u1": {ctr("c", t0, t1, 1e9+7.5e9, 6<<20)}}),
			"2", "500m", "6Mi", 15 * time.Second, true},
		{"container restarted: no rate", sum("n1", t1, 10e9+15e9, map[string][]containerStats{"u1": {ctr("c", t1, t1, 1e6, 6<<20)}}),
			"1", "", "", 0, true},
		{"counter went back: no rate", sum("n1", t1, 5e9, map[string][]containerStats{"u1": {ctr("c", t0, t1, 5e8, 6<<20)}}),
			"", "", "", 0, true},
		{"node failed: nothing, samples kept", nil, "", "", "", 0, true},
		{"second container without history: pod withheld", sum("n1", t1, 10e9+15e9, map[string][]containerStats{"u1": {
			ctr("c", t0, t1, 1e9+7.5e9, 6<<20), ctr("sidecar", t0, t1, 1e9, 1<<20)}}), "1", "", "", 0, true},
		{"pod unknown to the API (deleted): skipped", sum("n1", t1, 10e9+15e9, map[string][]containerStats{"zz": {ctr("c", t0, t1, 5e9, 1)}}),
			"1", "", "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, nm, pm := collect(prev, nodes, pods, []*summary{tc.sum})
			gotNode := ""
			if len(nm) == 1 {
				q := nm[0].Usage[corev1.ResourceCPU]
				gotNode = q.String()
				if nm[0].Labels["kubernetes.io/hostname"] != "n1" {
					t.Errorf("node labels = %v, want the Node's", nm[0].Labels)
				}
			}
			if gotNode != tc.wantNode {
				t.Errorf("node cpu = %q, want %q", gotNode, tc.wantNode)
			}
			gotPod, gotMem := "", ""
			if len(pm) == 1 {
				if pm[0].Name != "web" || pm[0].Namespace != "default" || pm[0].Labels["app"] != "web" {
					t.Errorf("pod metrics meta = %+v, want default/web with its labels", pm[0].ObjectMeta)
				}
				c := pm[0].Containers[0]
				cpu, mem := c.Usage[corev1.ResourceCPU], c.Usage[corev1.ResourceMemory]
				gotPod, gotMem = cpu.String(), mem.String()
				if pm[0].Window.Duration != tc.wantWin || !pm[0].Timestamp.Time.Equal(t1) {
					t.Errorf("window %v at %v, want %v at %v", pm[0].Window.Duration, pm[0].Timestamp, tc.wantWin, t1)
				}
			} else if len(pm) > 1 {
				t.Fatalf("got %d pods", len(pm))
			}
			if gotPod != tc.wantPod || gotMem != tc.wantMem {
				t.Errorf("pod cpu, memory = %q, %q; want %q, %q", gotPod, gotMem, tc.wantPod, tc.wantMem)
			}
			if _, ok := next["n1"]; ok != tc.wantPrevN {
				t.Errorf("samples kept for n1 = %v, want %v", ok, tc.wantPrevN)
			}
		})
	}
}

func TestScrapeFailedNodeKeepsOthers(t *testing.T) {
	n1, n2 := node("n1"), node("n2")
	p := pod("default", "web", "u1")
	client := fake.NewClientset(&n1, &n2, &p)
	s := NewScraper(client, slog.New(slog.NewTextHandler(io.Discard, nil)))
	at := t0
	cpu := uint64(0)
	s.fetch = func(ctx context.Context, n string) (*summary, error) {
		if n == "n2" {
			return nil, errors.New("connection refused")
		}
		return sum("n1", at, cpu, map[string][]containerStats{"u1": {ctr("c", t0, at, cpu/2, 1<<20)}}), nil
	}
	if err := s.scrape(context.Background()); err != nil {
		t.Fatal(err)
	}
	at, cpu = t0.Add(10*time.Second), 10e9
	if err := s.scrape(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.Nodes(); len(got) != 1 || got[0].Name != "n1" {
		t.Fatalf("nodes = %+v, want only n1", got)
	}
	pods := s.Pods()
	if len(pods) != 1 {
		t.Fatalf("pods = %+v, want web", pods)
	}
	if q := pods[0].Containers[0].Usage[corev1.ResourceCPU]; q.MilliValue() != 500 {
		t.Errorf("web cpu = %s, want 500m", q.String())
	}
	if !s.failing["n2"] {
		t.Error("n2 not marked failing")
	}
}

// TestScrapeThroughAPIServer runs two scrapes with a real client-go client
// against a fake API server that answers the lists and nodes/NAME/proxy/stats/summary.
func TestScrapeThroughAPIServer(t *testing.T) {
	var cpu atomic.Uint64
	at := t0
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		answer(w, &corev1.NodeList{Items: []corev1.Node{node("n1")}})
	})
	mux.HandleFunc("GET /api/v1/pods", func(w http.ResponseWriter, r *http.Request) {
		answer(w, &corev1.PodList{Items: []corev1.Pod{pod("default", "web", "u1")}})
	})
	mux.HandleFunc("GET /api/v1/nodes/n1/proxy/stats/summary", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		c := cpu.Load()
		answer(w, sum("n1", at, 2*c, map[string][]containerStats{"u1": {ctr("c", t0, at, c, 3<<20)}}))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	s := NewScraper(client, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.scrape(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	at = t0.Add(20 * time.Second)
	cpu.Store(5e9)
	mu.Unlock()
	if err := s.scrape(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(s.failing) != 0 {
		t.Fatalf("scrape failed: %v", s.failing)
	}
	pods, nodes := s.Pods(), s.Nodes()
	if len(pods) != 1 || len(nodes) != 1 {
		t.Fatalf("pods %+v nodes %+v, want one each", pods, nodes)
	}
	if q := pods[0].Containers[0].Usage[corev1.ResourceCPU]; q.MilliValue() != 250 {
		t.Errorf("web cpu = %s, want 250m (5 s of CPU over 20 s)", q.String())
	}
	if q := nodes[0].Usage[corev1.ResourceCPU]; q.MilliValue() != 500 {
		t.Errorf("n1 cpu = %s, want 500m", q.String())
	}
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func TestScrapeFailsWhenListsFail(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	s := NewScraper(client, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.scrape(context.Background()); err == nil || err.Error() != "list pods: connection refused" {
		t.Errorf("scrape = %v, want the list error", err)
	}
}
