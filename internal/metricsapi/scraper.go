package metricsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/berth-dev/berth/internal/metricsapi/v1beta1"
)

// Scrape timing, as metrics-server's defaults (--metric-resolution=15s,
// a scrape timeout below the resolution).
const (
	DefaultInterval = 15 * time.Second
	scrapeTimeout   = 10 * time.Second
)

// Scraper collects resource usage from every node agent's /stats/summary
// through the API server's nodes/NAME/proxy, every interval, and keeps the
// rates between the last two scrapes. It is the Source a Handler serves.
type Scraper struct {
	client   kubernetes.Interface
	fetch    func(ctx context.Context, node string) (*summary, error)
	interval time.Duration
	log      *slog.Logger

	mu      sync.RWMutex
	prev    map[string]*nodeSamples // node name -> its last good scrape
	nodes   []v1beta1.NodeMetrics
	pods    []v1beta1.PodMetrics
	failing map[string]bool // nodes whose last scrape failed, to log changes once
}

// NewScraper returns a Scraper that reads nodes, pods and node summaries
// with client (the API server's loopback admin client).
func NewScraper(client kubernetes.Interface, log *slog.Logger) *Scraper {
	s := &Scraper{client: client, interval: DefaultInterval, log: log, failing: map[string]bool{}}
	s.fetch = s.fetchSummary
	return s
}

// Run scrapes at once and then every interval until ctx is done. Usage
// appears after the second scrape, since CPU usage is a rate. It may start
// before the API server serves: until the first lists succeed it retries
// every second and logs only at debug level.
func (s *Scraper) Run(ctx context.Context) error {
	listed := false
	for {
		wait := s.interval
		if err := s.scrape(ctx); err != nil {
			if listed {
				s.log.Warn("metrics scrape failed", "err", err)
			} else {
				s.log.Debug("metrics scrape: API not answering yet", "err", err)
				wait = time.Second
			}
		} else {
			listed = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Nodes returns the latest node metrics, sorted by name.
func (s *Scraper) Nodes() []v1beta1.NodeMetrics {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nodes
}

// Pods returns the latest pod metrics, sorted by namespace and name.
func (s *Scraper) Pods() []v1beta1.PodMetrics {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pods
}

// scrape reads every node once; it fails only when the lists fail (a node
// that does not answer is logged and left out).
func (s *Scraper) scrape(ctx context.Context) error {
	nodes, err := s.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	// Pods give the labels selectors match and tell live pods from stale
	// summary entries.
	pods, err := s.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	sums := make([]*summary, len(nodes.Items))
	errs := make([]error, len(nodes.Items))
	var wg sync.WaitGroup
	for i := range nodes.Items {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
			defer cancel()
			sums[i], errs[i] = s.fetch(ctx, nodes.Items[i].Name)
		})
	}
	wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, n := range nodes.Items {
		switch {
		case errs[i] != nil && !s.failing[n.Name]:
			s.log.Warn("metrics scrape failed; the node's usage is missing until it answers", "node", n.Name, "err", errs[i])
			s.failing[n.Name] = true
		case errs[i] != nil:
			s.log.Debug("metrics scrape failed", "node", n.Name, "err", errs[i])
		case s.failing[n.Name]:
			s.log.Info("metrics scrape recovered", "node", n.Name)
			delete(s.failing, n.Name)
		}
	}
	s.prev, s.nodes, s.pods = collect(s.prev, nodes.Items, pods.Items, sums)
	return nil
}

func (s *Scraper) fetchSummary(ctx context.Context, node string) (*summary, error) {
	raw, err := s.client.CoreV1().RESTClient().Get().
		Resource("nodes").Name(node).SubResource("proxy").Suffix("stats", "summary").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("get stats summary of node %s: %w", node, err)
	}
	var sum summary
	if err := json.Unmarshal(raw, &sum); err != nil {
		return nil, fmt.Errorf("decode stats summary of node %s: %w", node, err)
	}
	return &sum, nil
}

// sample is one cumulative CPU reading. A different start means the
// container restarted and its counter began again.
type sample struct {
	start time.Time
	t     time.Time
	cpu   uint64 // core-nanoseconds since start
}

// rate is the usage between prev and cur in nano-cores, and the window.
func rate(prev, cur sample) (uint64, time.Duration, bool) {
	if !prev.start.Equal(cur.start) || !cur.t.After(prev.t) || cur.cpu < prev.cpu {
		return 0, 0, false
	}
	w := cur.t.Sub(prev.t)
	return uint64(float64(cur.cpu-prev.cpu) / w.Seconds()), w, true
}

type containerKey struct{ podUID, container string }

// nodeSamples is one node's readings from one scrape.
type nodeSamples struct {
	node       *sample
	containers map[containerKey]sample
}

// collect turns this scrape's summaries (nil where a node failed) and the
// previous samples into metrics. A failed node keeps its previous samples,
// so its next good scrape yields a rate over the longer window. A pod is
// reported only when every running container has a rate, so a sum over a
// pod never silently misses a container.
func collect(prev map[string]*nodeSamples, nodes []corev1.Node, pods []corev1.Pod, sums []*summary) (map[string]*nodeSamples, []v1beta1.NodeMetrics, []v1beta1.PodMetrics) {
	podByUID := make(map[string]*corev1.Pod, len(pods))
	for i := range pods {
		podByUID[string(pods[i].UID)] = &pods[i]
	}
	next := map[string]*nodeSamples{}
	var nms []v1beta1.NodeMetrics
	var pms []v1beta1.PodMetrics
	for i := range nodes {
		node := &nodes[i]
		old := prev[node.Name]
		sum := sums[i]
		if sum == nil {
			if old != nil {
				next[node.Name] = old
			}
			continue
		}
		if old == nil {
			old = &nodeSamples{}
		}
		cur := &nodeSamples{containers: map[containerKey]sample{}}
		next[node.Name] = cur
		if c, m := sum.Node.CPU, sum.Node.Memory; c != nil && c.UsageCoreNanoSeconds != nil && m != nil && m.WorkingSetBytes != nil {
			s := sample{t: c.Time.Time, cpu: *c.UsageCoreNanoSeconds}
			cur.node = &s
			if old.node != nil {
				if nanoCores, w, ok := rate(*old.node, s); ok {
					nms = append(nms, v1beta1.NodeMetrics{
						ObjectMeta: metav1.ObjectMeta{Name: node.Name, Labels: node.Labels},
						Timestamp:  metav1.NewTime(s.t),
						Window:     metav1.Duration{Duration: w},
						Usage:      usage(nanoCores, *m.WorkingSetBytes),
					})
				}
			}
		}
		for _, ps := range sum.Pods {
			pod := podByUID[ps.PodRef.UID]
			if pod == nil {
				continue // gone since the agent answered
			}
			pm := v1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels}}
			complete := len(ps.Containers) > 0
			for _, cs := range ps.Containers {
				if cs.CPU == nil || cs.CPU.UsageCoreNanoSeconds == nil || cs.Memory == nil || cs.Memory.WorkingSetBytes == nil {
					complete = false
					continue
				}
				key := containerKey{ps.PodRef.UID, cs.Name}
				s := sample{start: cs.StartTime.Time, t: cs.CPU.Time.Time, cpu: *cs.CPU.UsageCoreNanoSeconds}
				cur.containers[key] = s
				before, seen := old.containers[key]
				if !seen {
					complete = false
					continue
				}
				nanoCores, w, ok := rate(before, s)
				if !ok {
					complete = false
					continue
				}
				pm.Containers = append(pm.Containers, v1beta1.ContainerMetrics{Name: cs.Name, Usage: usage(nanoCores, *cs.Memory.WorkingSetBytes)})
				if s.t.After(pm.Timestamp.Time) {
					pm.Timestamp = metav1.NewTime(s.t)
				}
				pm.Window.Duration = max(pm.Window.Duration, w)
			}
			if complete {
				pms = append(pms, pm)
			}
		}
	}
	sort.Slice(nms, func(i, j int) bool { return nms[i].Name < nms[j].Name })
	sort.Slice(pms, func(i, j int) bool {
		if pms[i].Namespace != pms[j].Namespace {
			return pms[i].Namespace < pms[j].Namespace
		}
		return pms[i].Name < pms[j].Name
	})
	return next, nms, pms
}

// usage is the ResourceList metrics-server reports: cpu in nano-cores,
// memory (the working set) in bytes.
func usage(nanoCores, workingSet uint64) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(int64(nanoCores), resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(int64(workingSet), resource.BinarySI),
	}
}
