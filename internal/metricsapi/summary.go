package metricsapi

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The part of the node agent's GET /stats/summary (upstream's
// k8s.io/kubelet/pkg/apis/stats/v1alpha1 Summary) that resource metrics
// need. Only cumulative counters are read: rates are computed here between
// two scrapes, as metrics-server does, so the window is ours and does not
// depend on who else called the agent.
type (
	summary struct {
		Node nodeStats  `json:"node"`
		Pods []podStats `json:"pods"`
	}
	nodeStats struct {
		NodeName string       `json:"nodeName"`
		CPU      *cpuStats    `json:"cpu,omitempty"`
		Memory   *memoryStats `json:"memory,omitempty"`
	}
	podStats struct {
		PodRef     podReference     `json:"podRef"`
		Containers []containerStats `json:"containers"`
	}
	podReference struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	}
	containerStats struct {
		Name      string       `json:"name"`
		StartTime metav1.Time  `json:"startTime"`
		CPU       *cpuStats    `json:"cpu,omitempty"`
		Memory    *memoryStats `json:"memory,omitempty"`
	}
	cpuStats struct {
		Time                 metav1.Time `json:"time"`
		UsageCoreNanoSeconds *uint64     `json:"usageCoreNanoSeconds,omitempty"`
	}
	memoryStats struct {
		Time            metav1.Time `json:"time"`
		WorkingSetBytes *uint64     `json:"workingSetBytes,omitempty"`
	}
)
