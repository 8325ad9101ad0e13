package kubelet

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The summary API types, shaped like upstream's
// k8s.io/kubelet/pkg/apis/stats/v1alpha1 (only the fields berth fills), so
// a metrics pipeline written for the kubelet reads them.
type (
	// Summary is GET /stats/summary.
	Summary struct {
		Node NodeStats  `json:"node"`
		Pods []PodStats `json:"pods"`
	}
	// NodeStats are the node's totals.
	NodeStats struct {
		NodeName  string       `json:"nodeName"`
		StartTime metav1.Time  `json:"startTime"`
		CPU       *CPUStats    `json:"cpu,omitempty"`
		Memory    *MemoryStats `json:"memory,omitempty"`
	}
	// PodReference names a pod.
	PodReference struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	}
	// PodStats sum a pod's containers.
	PodStats struct {
		PodRef     PodReference       `json:"podRef"`
		StartTime  metav1.Time        `json:"startTime"`
		Containers []ContainerSummary `json:"containers"`
		CPU        *CPUStats          `json:"cpu,omitempty"`
		Memory     *MemoryStats       `json:"memory,omitempty"`
	}
	// ContainerSummary is one container's readings (upstream's ContainerStats).
	ContainerSummary struct {
		Name      string       `json:"name"`
		StartTime metav1.Time  `json:"startTime"`
		CPU       *CPUStats    `json:"cpu,omitempty"`
		Memory    *MemoryStats `json:"memory,omitempty"`
	}
	// CPUStats: usageNanoCores is the rate since the previous reading.
	CPUStats struct {
		Time                 metav1.Time `json:"time"`
		UsageNanoCores       *uint64     `json:"usageNanoCores,omitempty"`
		UsageCoreNanoSeconds *uint64     `json:"usageCoreNanoSeconds,omitempty"`
	}
	// MemoryStats in bytes.
	MemoryStats struct {
		Time            metav1.Time `json:"time"`
		AvailableBytes  *uint64     `json:"availableBytes,omitempty"`
		UsageBytes      *uint64     `json:"usageBytes,omitempty"`
		WorkingSetBytes *uint64     `json:"workingSetBytes,omitempty"`
		RSSBytes        *uint64     `json:"rssBytes,omitempty"`
		PageFaults      *uint64     `json:"pageFaults,omitempty"`
		MajorPageFaults *uint64     `json:"majorPageFaults,omitempty"`
	}
)

// cpuSample is the previous cumulative reading of one counter.
type cpuSample struct {
	t     time.Time
	total uint64
}

// rates turns cumulative CPU counters into nano-cores between calls.
type rates struct {
	mu   sync.Mutex
	last map[string]cpuSample
}

func (r *rates) rate(key string, t time.Time, total uint64) *uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string]cpuSample{}
	}
	prev, ok := r.last[key]
	r.last[key] = cpuSample{t, total}
	if !ok || !t.After(prev.t) || total < prev.total {
		return nil
	}
	v := uint64(float64(total-prev.total) / t.Sub(prev.t).Seconds())
	return &v
}

func u64(v uint64) *uint64 { return &v }

// summary reads every running container of this node's pods.
func (k *Kubelet) summary(r *http.Request) Summary {
	now := time.Now()
	s := Summary{Node: NodeStats{NodeName: k.cfg.NodeName, StartTime: metav1.NewTime(bootTime())}}
	if total, ok := hostCPU(); ok {
		s.Node.CPU = &CPUStats{Time: metav1.NewTime(now), UsageCoreNanoSeconds: u64(total), UsageNanoCores: k.rates.rate("node", now, total)}
	}
	h := readHostInfo(k.cfg.DataDir)
	if avail, ok := memAvailable(); ok {
		used := uint64(h.memory) - avail
		s.Node.Memory = &MemoryStats{Time: metav1.NewTime(now), AvailableBytes: u64(avail), UsageBytes: u64(used), WorkingSetBytes: u64(used)}
	}
	pods, _ := k.pods.List(labels.Everything()) // lister reads never fail
	for _, p := range pods {
		ps := PodStats{PodRef: PodReference{Name: p.Name, Namespace: p.Namespace, UID: string(p.UID)}}
		if p.Status.StartTime != nil {
			ps.StartTime = *p.Status.StartTime
		}
		all, err := k.rt.ListContainers(r.Context(), map[string]string{LabelPodUID: string(p.UID)})
		if err != nil {
			continue
		}
		var cpuSum, memSum, wsSum uint64
		var rateSum uint64
		rateOK := true
		for _, ci := range all {
			if !ci.State.Running {
				continue
			}
			st, err := k.rt.Stats(r.Context(), ci.ID)
			if err != nil {
				continue
			}
			rate := k.rates.rate(ci.ID, st.Time, st.CPUUsageNanos)
			if rate == nil {
				rateOK = false
			} else {
				rateSum += *rate
			}
			cpuSum += st.CPUUsageNanos
			memSum += st.MemoryUsage
			wsSum += st.MemoryWorkingSet
			ps.Containers = append(ps.Containers, ContainerSummary{
				Name:      ci.Labels[LabelContainerName],
				StartTime: metav1.NewTime(ci.State.StartedAt),
				CPU:       &CPUStats{Time: metav1.NewTime(st.Time), UsageCoreNanoSeconds: u64(st.CPUUsageNanos), UsageNanoCores: rate},
				Memory: &MemoryStats{Time: metav1.NewTime(st.Time), UsageBytes: u64(st.MemoryUsage), WorkingSetBytes: u64(st.MemoryWorkingSet),
					RSSBytes: u64(st.MemoryRSS), PageFaults: u64(st.PageFaults), MajorPageFaults: u64(st.MajorPageFaults)},
			})
		}
		ps.CPU = &CPUStats{Time: metav1.NewTime(now), UsageCoreNanoSeconds: u64(cpuSum)}
		if rateOK && len(ps.Containers) > 0 {
			ps.CPU.UsageNanoCores = u64(rateSum)
		}
		ps.Memory = &MemoryStats{Time: metav1.NewTime(now), UsageBytes: u64(memSum), WorkingSetBytes: u64(wsSum)}
		s.Pods = append(s.Pods, ps)
	}
	return s
}

func (k *Kubelet) serveSummary(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(k.summary(r)) // the client may be gone; nothing to do then
}

// hostCPU is the host's busy CPU time in ns from /proc/stat.
func hostCPU() (uint64, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, false
	}
	var busy uint64
	for i, v := range fields[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		busy += n
	}
	return busy * 1e7, true // USER_HZ is 100 on Linux
}

func memAvailable() (uint64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemAvailable:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

func bootTime() time.Time {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Time{}
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return time.Time{}
	}
	up, _ := strconv.ParseFloat(f[0], 64)
	return time.Now().Add(-time.Duration(up * float64(time.Second))).Truncate(time.Second)
}
