package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// podLimits are the pod cgroup's settings (upstream's
// pkg/kubelet/cm/helpers_linux.go ResourceConfigForPod): the memory limit
// and CFS quota are the sums over app containers (or the largest init
// container) when every container has that limit, else none; cpu.shares is
// the sum of the requests.
type podLimits struct {
	memory int64  // bytes, 0 = none
	quota  int64  // µs per 100 ms, 0 = none
	shares uint64 // cpu.shares
}

func podCgroupLimits(spec *corev1.PodSpec) podLimits {
	sum := func(cs []corev1.Container, name corev1.ResourceName, scale func(*corev1.Container) int64) (total, largest int64, all bool) {
		all = true
		for i := range cs {
			v := scale(&cs[i])
			if _, ok := cs[i].Resources.Limits[name]; !ok {
				all = false
			}
			total += v
			largest = max(largest, v)
		}
		return total, largest, all
	}
	memOf := func(c *corev1.Container) int64 { q := c.Resources.Limits[corev1.ResourceMemory]; return q.Value() }
	cpuOf := func(c *corev1.Container) int64 {
		q := c.Resources.Limits[corev1.ResourceCPU]
		return q.MilliValue() * 100
	}
	var l podLimits
	appMem, _, allMem := sum(spec.Containers, corev1.ResourceMemory, memOf)
	_, initMem, allInitMem := sum(spec.InitContainers, corev1.ResourceMemory, memOf)
	if allMem && allInitMem && len(spec.Containers) > 0 {
		l.memory = max(appMem, initMem)
	}
	appCPU, _, allCPU := sum(spec.Containers, corev1.ResourceCPU, cpuOf)
	_, initCPU, allInitCPU := sum(spec.InitContainers, corev1.ResourceCPU, cpuOf)
	if allCPU && allInitCPU && len(spec.Containers) > 0 {
		l.quota = max(appCPU, initCPU, 1000)
	}
	var milli int64
	for _, c := range spec.Containers {
		if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
			milli += q.MilliValue()
		} else if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
			milli += q.MilliValue()
		}
	}
	l.shares = max(uint64(milli*1024/1000), 2)
	return l
}

// ensurePodCgroup creates the pod's memory and cpu cgroups (runc creates
// the other hierarchies when the first container starts; cpuset is left
// to it because a new cpuset needs its cpus and mems filled in) and writes
// the pod-level limits.
func ensurePodCgroup(parent string, l podLimits) error {
	write := func(h, file, v string) error {
		dir := filepath.Join("/sys/fs/cgroup", h, parent)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("pod cgroup: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0o644); err != nil {
			return fmt.Errorf("pod cgroup %s/%s: %w", h, file, err)
		}
		return nil
	}
	if err := write("cpu", "cpu.shares", strconv.FormatUint(l.shares, 10)); err != nil {
		return err
	}
	if l.quota > 0 {
		if err := write("cpu", "cpu.cfs_quota_us", strconv.FormatInt(l.quota, 10)); err != nil {
			return err
		}
	}
	if l.memory > 0 {
		return write("memory", "memory.limit_in_bytes", strconv.FormatInt(l.memory, 10))
	}
	return nil
}
