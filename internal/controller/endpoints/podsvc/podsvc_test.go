package podsvc

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestFindPort(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8000},
			{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP},
		}}},
		InitContainers: []corev1.Container{
			{Ports: []corev1.ContainerPort{{Name: "plain-init", ContainerPort: 1}}},
			{RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "sidecar", ContainerPort: 9000}}},
		},
	}}
	tests := []struct {
		name    string
		port    corev1.ServicePort
		want    int32
		wantErr bool
	}{
		{"number is taken as is", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)}, 8080, false},
		{"zero targetPort means the service port", corev1.ServicePort{Port: 80}, 80, false},
		{"name resolves with default TCP", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, 8000, false},
		{"name must match the protocol", corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("dns")}, 0, true},
		{"udp name resolves", corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}, 5353, false},
		{"sidecar init container counts", corev1.ServicePort{Port: 1, TargetPort: intstr.FromString("sidecar")}, 9000, false},
		{"plain init container does not", corev1.ServicePort{Port: 1, TargetPort: intstr.FromString("plain-init")}, 0, true},
		{"unknown name fails", corev1.ServicePort{Port: 1, TargetPort: intstr.FromString("nope")}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindPort(pod, &tc.port)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("FindPort(%v) = %d, %v; want %d, err=%v", tc.port.TargetPort, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestIncluded(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name        string
		pod         corev1.Pod
		terminating bool
		want        bool
	}{
		{"no IP yet", corev1.Pod{}, true, false},
		{"running with IP", corev1.Pod{Status: corev1.PodStatus{PodIP: "10.244.0.5", Phase: corev1.PodRunning}}, false, true},
		{"succeeded", corev1.Pod{Status: corev1.PodStatus{PodIP: "10.244.0.5", Phase: corev1.PodSucceeded}}, true, false},
		{"deleting, terminating excluded", corev1.Pod{Status: corev1.PodStatus{PodIP: "10.244.0.5"}}, false, false},
		{"deleting, terminating included", corev1.Pod{Status: corev1.PodStatus{PodIP: "10.244.0.5"}}, true, true},
	}
	tests[3].pod.DeletionTimestamp = &now
	tests[4].pod.DeletionTimestamp = &now
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Included(&tc.pod, tc.terminating); got != tc.want {
				t.Fatalf("Included() = %v, want %v", got, tc.want)
			}
		})
	}
}
