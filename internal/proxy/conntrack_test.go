package proxy

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestStaleUDP(t *testing.T) {
	dns := func(eps ...Endpoint) Service {
		return Service{Namespace: "kube-system", Name: "dns", ClusterIP: netip.MustParseAddr("10.96.0.10"),
			Ports: []Port{{Name: "dns", Protocol: "udp", Port: 53, NodePort: 30053, Endpoints: eps},
				{Name: "dns-tcp", Protocol: "tcp", Port: 53, Endpoints: eps}}}
	}
	a, b := ep("10.244.0.5", 5353), ep("10.244.0.6", 5353)
	tests := []struct {
		name     string
		old, cur []Service
		want     []string
	}{
		{"unchanged: nothing", []Service{dns(a, b)}, []Service{dns(a, b)}, nil},
		{"endpoint gone: its UDP entries", []Service{dns(a, b)}, []Service{dns(b)}, []string{"-p udp --reply-src 10.244.0.5 --reply-port-src 5353"}},
		{"endpoint added: nothing", []Service{dns(b)}, []Service{dns(a, b)}, nil},
		{"first endpoint after none: entries of the rejected time", []Service{dns()}, []Service{dns(a)},
			[]string{"-p udp --orig-dst 10.96.0.10 --orig-port-dst 53", "-p udp --orig-port-dst 30053"}},
		{"new service: nothing", nil, []Service{dns(a)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, args := range staleUDP(tc.old, tc.cur) {
				got = append(got, strings.Join(args, " "))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("staleUDP() = %q, want %q", got, tc.want)
			}
		})
	}
}
