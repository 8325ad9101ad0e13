package scheduler

import (
	corev1 "k8s.io/api/core/v1"
)

// Requests the scoring counts for containers that state none, so that many
// request-less pods still spread (upstream's non-zero defaults in
// pkg/scheduler/util: 100 millicores, 200 MiB).
const (
	defaultMilliCPU = 100
	defaultMemory   = 200 << 20
)

// nonZero returns a pod's cpu (milli) and memory (bytes) for scoring.
func nonZero(pod *corev1.Pod) (cpu, mem int64) {
	for _, c := range pod.Spec.Containers {
		if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
			cpu += q.MilliValue()
		} else {
			cpu += defaultMilliCPU
		}
		if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
			mem += q.Value()
		} else {
			mem += defaultMemory
		}
	}
	return cpu, mem
}

// score rates ni for pod from 0 to 200: NodeResourcesFit's LeastAllocated
// (free share of cpu and memory, 0-100) plus NodeResourcesBalancedAllocation
// (100 minus the gap between cpu and memory use, 0-100), equally weighted
// as in upstream's default profile.
func score(pod *corev1.Pod, ni nodeInfo) int64 {
	cpu, mem := nonZero(pod)
	for _, p := range ni.pods {
		c, m := nonZero(p)
		cpu += c
		mem += m
	}
	alloc := ni.node.Status.Allocatable
	capCPU := alloc.Cpu().MilliValue()
	capMem := alloc.Memory().Value()
	cpuFrac, memFrac := fraction(cpu, capCPU), fraction(mem, capMem)
	least := int64(((1-cpuFrac)*100 + (1-memFrac)*100) / 2)
	diff := cpuFrac - memFrac
	if diff < 0 {
		diff = -diff
	}
	balanced := int64((1 - diff) * 100)
	return least + balanced
}

func fraction(used, capacity int64) float64 {
	if capacity <= 0 || used >= capacity {
		return 1
	}
	return float64(used) / float64(capacity)
}

// pickNode filters and scores nodes for pod. It returns the best node's
// name, or "" and the count of nodes per failure reason.
func pickNode(pod *corev1.Pod, nodes []nodeInfo) (string, map[string]int) {
	reasons := map[string]int{}
	best, bestScore := "", int64(-1)
	for _, ni := range nodes {
		if rs := filter(pod, ni); len(rs) > 0 {
			for _, r := range rs {
				reasons[r]++
			}
			continue
		}
		// Ties go to the name that sorts first, so a choice is repeatable.
		if s := score(pod, ni); s > bestScore || (s == bestScore && ni.node.Name < best) {
			best, bestScore = ni.node.Name, s
		}
	}
	return best, reasons
}
