package apiserver

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNodeMayRequestToken(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1", ServiceAccountName: "app"}}
	for _, tc := range []struct {
		name, node, sa string
		pod            *corev1.Pod
		want           bool
	}{
		{"its pod's account", "n1", "app", pod, true},
		{"no bound pod", "n1", "app", nil, false},
		{"another node's pod", "n2", "app", pod, false},
		{"another account than the pod's", "n1", "admin", pod, false},
	} {
		if got := nodeMayRequestToken(tc.node, tc.sa, tc.pod); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
