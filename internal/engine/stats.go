package engine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/engine/shim"
)

// Stats reads the cgroup v1 counters of a running container.
func (e *Engine) Stats(ctx context.Context, ref string) (*Stats, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	if c.state().Status != shim.StatusRunning {
		return nil, fmt.Errorf("%w: %s", ErrNotRunning, c.meta.ID[:12])
	}
	return readCgroupStats(c.meta.CgroupsPath)
}

// ReadCgroupStats reads the same counters for any cgroupfs path (a pod's
// cgroup, for example).
func ReadCgroupStats(path string) (*Stats, error) { return readCgroupStats(path) }

func readCgroupStats(path string) (*Stats, error) {
	cg := func(h, f string) string { return filepath.Join("/sys/fs/cgroup", h, path, f) }
	s := &Stats{Read: time.Now().UTC(), OnlineCPUs: runtime.NumCPU(), MemoryStat: map[string]uint64{}}
	var err error
	if s.CPUUsageTotal, err = readUint(cg("cpuacct", "cpuacct.usage")); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	if b, err := os.ReadFile(cg("cpuacct", "cpuacct.usage_percpu")); err == nil {
		for _, f := range strings.Fields(string(b)) {
			v, _ := strconv.ParseUint(f, 10, 64)
			s.CPUUsagePerCPU = append(s.CPUUsagePerCPU, v)
		}
	}
	// cpuacct.stat is in USER_HZ ticks (100 per second).
	kv := readKV(cg("cpuacct", "cpuacct.stat"))
	s.CPUUsageUser, s.CPUUsageSystem = kv["user"]*1e7, kv["system"]*1e7
	kv = readKV(cg("cpu", "cpu.stat"))
	s.Periods, s.ThrottledPeriods, s.ThrottledTime = kv["nr_periods"], kv["nr_throttled"], kv["throttled_time"]
	s.MemoryUsage, _ = readUint(cg("memory", "memory.usage_in_bytes"))
	s.MemoryMaxUsage, _ = readUint(cg("memory", "memory.max_usage_in_bytes"))
	s.MemoryLimit, _ = readUint(cg("memory", "memory.limit_in_bytes"))
	s.MemoryFailcnt, _ = readUint(cg("memory", "memory.failcnt"))
	s.MemoryStat = readKV(cg("memory", "memory.stat"))
	s.OOMKills = readKV(cg("memory", "memory.oom_control"))["oom_kill"]
	s.PidsCurrent, _ = readUint(cg("pids", "pids.current"))
	s.PidsLimit, _ = readUint(cg("pids", "pids.max")) // "max" reads as 0: unlimited
	s.SystemCPUUsage = systemCPUUsage()
	return s, nil
}

func readUint(p string) (uint64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

func readKV(p string) map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.Open(p)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// systemCPUUsage is the host's total CPU time in ns from /proc/stat, the
// denominator docker uses for CPU percentages.
func systemCPUUsage() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var total uint64
	for _, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		total += v
	}
	return total * 1e7
}

// Pids lists the host PIDs of the container's processes (for `docker top`).
func (e *Engine) Pids(ctx context.Context, ref string) ([]int, error) {
	c, err := e.lookup(ref)
	if err != nil {
		return nil, err
	}
	if c.state().Status != shim.StatusRunning {
		return nil, fmt.Errorf("%w: %s", ErrNotRunning, c.meta.ID[:12])
	}
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/pids", c.meta.CgroupsPath, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("pids: %w", err)
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}
