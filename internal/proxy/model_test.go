package proxy

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func slice(svc string, port int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: svc + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(port)}},
		Endpoints:   eps,
	}
}

func endpoint(ip string, ready, serving, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{
		Ready: &ready, Serving: &serving, Terminating: &terminating}}
}

func k8sSvc(name, clusterIP string, mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: clusterIP, Ports: []corev1.ServicePort{{Name: "http", Port: 8200, Protocol: corev1.ProtocolTCP}}}}
	if mod != nil {
		mod(s)
	}
	return s
}

func TestBuildModel(t *testing.T) {
	tests := []struct {
		name  string
		svc   *corev1.Service
		slice *discoveryv1.EndpointSlice
		over  Override
		want  []Service
	}{
		{"ready endpoints only", k8sSvc("a", "10.96.0.20", nil),
			slice("a", 8000, endpoint("10.244.0.6", true, true, false), endpoint("10.244.0.5", true, true, false), endpoint("10.244.0.7", false, false, false)),
			nil, []Service{{Namespace: "default", Name: "a", ClusterIP: netip.MustParseAddr("10.96.0.20"),
				Ports: []Port{{Name: "http", Protocol: "tcp", Port: 8200, Endpoints: []Endpoint{ep("10.244.0.5", 8000), ep("10.244.0.6", 8000)}}}}}},
		{"terminating but serving used when nothing is ready", k8sSvc("a", "10.96.0.20", nil),
			slice("a", 8000, endpoint("10.244.0.5", false, true, true), endpoint("10.244.0.6", false, false, true)),
			nil, []Service{{Namespace: "default", Name: "a", ClusterIP: netip.MustParseAddr("10.96.0.20"),
				Ports: []Port{{Name: "http", Protocol: "tcp", Port: 8200, Endpoints: []Endpoint{ep("10.244.0.5", 8000)}}}}}},
		{"headless is not proxied", k8sSvc("a", "None", nil), slice("a", 8000, endpoint("10.244.0.5", true, true, false)), nil, nil},
		{"nodePort, externalIPs, LB ingress and affinity", k8sSvc("a", "10.96.0.20", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.Ports[0].NodePort = 30080
			s.Spec.ExternalIPs = []string{"172.20.1.30"}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "172.20.0.2"}, {IP: "172.20.1.30"}}
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		}), nil, nil, []Service{{Namespace: "default", Name: "a", ClusterIP: netip.MustParseAddr("10.96.0.20"),
			ExternalIPs: []netip.Addr{netip.MustParseAddr("172.20.0.2"), netip.MustParseAddr("172.20.1.30")},
			Affinity:    3 * time.Hour,
			Ports:       []Port{{Name: "http", Protocol: "tcp", Port: 8200, NodePort: 30080}}}}},
		{"override replaces endpoints", k8sSvc("a", "10.96.0.10", nil), nil,
			Override{OverrideKey("default", "a", "TCP", 8200): {ep("172.20.0.2", 53)}},
			[]Service{{Namespace: "default", Name: "a", ClusterIP: netip.MustParseAddr("10.96.0.10"),
				Ports: []Port{{Name: "http", Protocol: "tcp", Port: 8200, Endpoints: []Endpoint{ep("172.20.0.2", 53)}}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var slices []*discoveryv1.EndpointSlice
			if tc.slice != nil {
				slices = append(slices, tc.slice)
			}
			got := BuildModel([]*corev1.Service{tc.svc}, slices, tc.over)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("BuildModel() =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}
