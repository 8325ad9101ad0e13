package dockerapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/berth-dev/berth/internal/engine"
)

// cpuStats and the rest mirror moby api/types/container StatsResponse,
// which `docker stats` reads (CPU % from the delta against precpu_stats).
type cpuStats struct {
	CPUUsage struct {
		TotalUsage        uint64   `json:"total_usage"`
		PercpuUsage       []uint64 `json:"percpu_usage,omitempty"`
		UsageInKernelmode uint64   `json:"usage_in_kernelmode"`
		UsageInUsermode   uint64   `json:"usage_in_usermode"`
	} `json:"cpu_usage"`
	SystemUsage    uint64 `json:"system_cpu_usage,omitempty"`
	OnlineCPUs     int    `json:"online_cpus,omitempty"`
	ThrottlingData struct {
		Periods          uint64 `json:"periods"`
		ThrottledPeriods uint64 `json:"throttled_periods"`
		ThrottledTime    uint64 `json:"throttled_time"`
	} `json:"throttling_data"`
}

type statsJSON struct {
	Read      string `json:"read"`
	PreRead   string `json:"preread"`
	PidsStats struct {
		Current uint64 `json:"current,omitempty"`
		Limit   uint64 `json:"limit,omitempty"`
	} `json:"pids_stats"`
	CPUStats    cpuStats `json:"cpu_stats"`
	PreCPUStats cpuStats `json:"precpu_stats"`
	MemoryStats struct {
		Usage    uint64            `json:"usage,omitempty"`
		MaxUsage uint64            `json:"max_usage,omitempty"`
		Stats    map[string]uint64 `json:"stats,omitempty"`
		Failcnt  uint64            `json:"failcnt,omitempty"`
		Limit    uint64            `json:"limit,omitempty"`
	} `json:"memory_stats"`
	Name     string         `json:"name"`
	ID       string         `json:"id"`
	Networks map[string]any `json:"networks,omitempty"`
}

func toCPUStats(st *engine.Stats) cpuStats {
	var c cpuStats
	if st == nil {
		return c
	}
	c.CPUUsage.TotalUsage = st.CPUUsageTotal
	c.CPUUsage.PercpuUsage = st.CPUUsagePerCPU
	c.CPUUsage.UsageInKernelmode = st.CPUUsageSystem
	c.CPUUsage.UsageInUsermode = st.CPUUsageUser
	c.SystemUsage = st.SystemCPUUsage
	c.OnlineCPUs = st.OnlineCPUs
	c.ThrottlingData.Periods = st.Periods
	c.ThrottlingData.ThrottledPeriods = st.ThrottledPeriods
	c.ThrottlingData.ThrottledTime = st.ThrottledTime
	return c
}

func toStatsJSON(c *engine.Container, cur, prev *engine.Stats) statsJSON {
	out := statsJSON{Name: "/" + c.Name, ID: c.ID, Read: timeString(cur.Read), PreRead: "0001-01-01T00:00:00Z"}
	out.CPUStats, out.PreCPUStats = toCPUStats(cur), toCPUStats(prev)
	if prev != nil {
		out.PreRead = timeString(prev.Read)
	}
	out.PidsStats.Current, out.PidsStats.Limit = cur.PidsCurrent, cur.PidsLimit
	m := &out.MemoryStats
	m.Usage, m.MaxUsage, m.Limit, m.Failcnt, m.Stats = cur.MemoryUsage, cur.MemoryMaxUsage, cur.MemoryLimit, cur.MemoryFailcnt, cur.MemoryStat
	if total := uint64(memTotal()); total > 0 && (m.Limit == 0 || m.Limit > total) {
		m.Limit = total // cgroup v1 reports "unlimited" as a huge number; docker shows the host's memory
	}
	return out
}

// containerStats is GET /containers/{id}/stats. With stream=false it takes
// two samples a second apart, as dockerd does, so the CLI can compute a CPU
// percentage; one-shot=true answers with one sample.
func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := s.eng.Container(r.Context(), id)
	if err != nil {
		return noSuchContainer(id, err)
	}
	q := r.URL.Query()
	stream := q.Get("stream") == "" || boolParam(q.Get("stream"))
	sample := func() (*engine.Stats, error) {
		st, err := s.eng.Stats(r.Context(), c.ID)
		if errors.Is(err, engine.ErrNotRunning) {
			// A stopped container has no cgroup readings; docker answers zeros.
			return &engine.Stats{Read: time.Now()}, nil
		}
		return st, err
	}
	prev, err := sample()
	if err != nil {
		return err
	}
	if !stream && boolParam(q.Get("one-shot")) {
		writeJSON(w, http.StatusOK, toStatsJSON(c, prev, nil))
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(newFlushWriter(w))
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-t.C:
		}
		cur, err := sample()
		if err != nil {
			return nil // the header is out; ending the stream is all that's left
		}
		if err := enc.Encode(toStatsJSON(c, cur, prev)); err != nil || !stream {
			return nil
		}
		prev = cur
	}
}
