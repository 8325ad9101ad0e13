package dns

import (
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

func ptr[T any](v T) *T { return &v }

func testStore(t *testing.T) *Store {
	t.Helper()
	svcIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc, ipIndex: ServiceIPIndexers[ipIndex]})
	sliceIdx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc, ipIndex: SliceIPIndexers[ipIndex]})
	svc := func(name, ip string, mod func(*corev1.Service)) {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.ServiceSpec{ClusterIP: ip, ClusterIPs: []string{ip},
				Ports: []corev1.ServicePort{{Name: "http", Port: 8200, Protocol: corev1.ProtocolTCP}}}}
		if mod != nil {
			mod(s)
		}
		if err := svcIdx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	svc("hello-svc", "10.96.0.20", nil)
	svc("web", "None", nil)
	svc("ext", "", func(s *corev1.Service) {
		s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIPs = corev1.ServiceTypeExternalName, "example.org", nil
	})
	ep := func(ip string, host *string, ready bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Hostname: host, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
	}
	err := sliceIdx.Add(&discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "web-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8000)), Protocol: ptr(corev1.ProtocolTCP)}},
		Endpoints:   []discoveryv1.Endpoint{ep("10.244.0.6", ptr("web-0"), true), ep("10.244.0.5", nil, true), ep("10.244.0.7", ptr("web-2"), false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Store{Services: corelisters.NewServiceLister(svcIdx), Slices: discoverylisters.NewEndpointSliceLister(sliceIdx),
		ServiceByIP: svcIdx, SliceByIP: sliceIdx}
}

func TestAnswer(t *testing.T) {
	s := New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, testStore(t))
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string // answer records, rendered without header, sorted
		extra int
		fwd   bool
	}{
		{"hello-svc.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"A 10.96.0.20"}, 0, false},
		{"HELLO-SVC.Default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"A 10.96.0.20"}, 0, false},
		{"hello-svc.default.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, nil, 0, false},
		{"missing.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, 0, false},
		{"hello-svc.default.svc.cluster.local.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, 0, false},
		{"web.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"A 10.244.0.5", "A 10.244.0.6"}, 0, false},
		{"web-0.web.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"A 10.244.0.6"}, 0, false},
		{"10-244-0-5.web.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"A 10.244.0.5"}, 0, false},
		{"web-2.web.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, 0, false},
		{"_http._tcp.hello-svc.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess, []string{"SRV 0 100 8200 hello-svc.default.svc.cluster.local."}, 1, false},
		{"_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess,
			[]string{"SRV 0 100 8000 10-244-0-5.web.default.svc.cluster.local.", "SRV 0 100 8000 web-0.web.default.svc.cluster.local."}, 2, false},
		{"_http._udp.hello-svc.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeNameError, nil, 0, false},
		{"ext.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"CNAME example.org."}, 0, false},
		{"10-244-0-9.default.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"A 10.244.0.9"}, 0, false},
		{"20.0.96.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"PTR hello-svc.default.svc.cluster.local."}, 0, false},
		{"6.0.244.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"PTR web-0.web.default.svc.cluster.local."}, 0, false},
		{"9.9.9.10.in-addr.arpa.", dns.TypePTR, 0, nil, 0, true},
		{"example.org.", dns.TypeA, 0, nil, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			req := new(dns.Msg).SetQuestion(tc.name, tc.qtype)
			resp := s.Answer(req)
			if tc.fwd {
				if resp != nil {
					t.Fatalf("Answer() = %v, want nil (forward)", resp)
				}
				return
			}
			if resp == nil {
				t.Fatal("Answer() = nil, want an authoritative answer")
			}
			if resp.Rcode != tc.rcode || !resp.Authoritative {
				t.Fatalf("rcode = %s aa=%v, want %s", dns.RcodeToString[resp.Rcode], resp.Authoritative, dns.RcodeToString[tc.rcode])
			}
			var got []string
			for _, rr := range resp.Answer {
				f := strings.Fields(rr.String())
				got = append(got, strings.Join(f[3:], " "))
			}
			sort.Strings(got)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("answers = %q, want %q", got, tc.want)
			}
			if len(resp.Extra) != tc.extra {
				t.Errorf("additional = %v, want %d records", resp.Extra, tc.extra)
			}
		})
	}
}
