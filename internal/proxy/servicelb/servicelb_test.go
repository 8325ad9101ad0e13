package servicelb

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, ip string, ready bool) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}},
		Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}},
	}}
}

func TestIngress(t *testing.T) {
	nodes := []*corev1.Node{node("b", "172.20.0.3", true), node("a", "172.20.0.2", true), node("c", "172.20.0.4", false)}
	class := "other"
	tests := []struct {
		name    string
		svc     corev1.Service
		want    []string
		managed bool
	}{
		{"LoadBalancer gets ready node IPs sorted", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, []string{"172.20.0.2", "172.20.0.3"}, true},
		{"other class is left alone", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: &class}}, nil, false},
		{"ClusterIP without ingress untouched", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}}, nil, false},
		{"no longer LoadBalancer loses ingress", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "172.20.0.2"}}}}}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, managed := Ingress(&tc.svc, nodes)
			var ips []string
			for _, in := range got {
				ips = append(ips, in.IP)
			}
			if managed != tc.managed || len(ips) != len(tc.want) {
				t.Fatalf("Ingress() = %v, %v; want %v, %v", ips, managed, tc.want, tc.managed)
			}
			for i := range ips {
				if ips[i] != tc.want[i] {
					t.Fatalf("Ingress() = %v, want %v", ips, tc.want)
				}
			}
		})
	}
}
