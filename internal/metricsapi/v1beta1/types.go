// Package v1beta1 holds the wire types of the resource metrics API,
// metrics.k8s.io/v1beta1, shaped like upstream's k8s.io/metrics (which
// berth does not import): the server in internal/metricsapi writes them
// and the HPA controller reads them, and neither imports the other.
package v1beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName and Version name the API; SchemeGroupVersion joins them.
const (
	GroupName = "metrics.k8s.io"
	Version   = "v1beta1"
)

// SchemeGroupVersion is metrics.k8s.io/v1beta1.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: Version}

// NodeMetrics is one node's usage over Window, ending at Timestamp.
type NodeMetrics struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Timestamp         metav1.Time         `json:"timestamp"`
	Window            metav1.Duration     `json:"window"`
	Usage             corev1.ResourceList `json:"usage"`
}

// NodeMetricsList is the answer to a nodes list.
type NodeMetricsList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []NodeMetrics `json:"items"`
}

// PodMetrics is one pod's per-container usage over Window, ending at
// Timestamp.
type PodMetrics struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Timestamp         metav1.Time        `json:"timestamp"`
	Window            metav1.Duration    `json:"window"`
	Containers        []ContainerMetrics `json:"containers"`
}

// PodMetricsList is the answer to a pods list.
type PodMetricsList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []PodMetrics `json:"items"`
}

// ContainerMetrics is one container's usage: cpu in cores, memory as the
// working set in bytes.
type ContainerMetrics struct {
	Name  string              `json:"name"`
	Usage corev1.ResourceList `json:"usage"`
}
