package proxy

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

var testCfg = RenderConfig{Table: "berth-test", NodeName: "node1", ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12")}

func ep(ip string, port int32) Endpoint { return Endpoint{IP: netip.MustParseAddr(ip), Port: port} }

func hello(mod func(*Service)) Service {
	s := Service{Namespace: "default", Name: "hello", ClusterIP: netip.MustParseAddr("10.96.0.20"),
		Ports: []Port{{Name: "http", Protocol: "tcp", Port: 8200, Endpoints: []Endpoint{ep("10.244.0.5", 8000)}}}}
	if mod != nil {
		mod(&s)
	}
	return s
}

func TestRender(t *testing.T) {
	three := func(s *Service) {
		s.Ports[0].Endpoints = []Endpoint{ep("10.244.0.5", 8000), ep("10.244.0.6", 8000), ep("10.244.0.7", 8000)}
	}
	tests := []struct {
		name    string
		svcs    []Service
		want    []string
		notWant []string
	}{
		{"clusterIP with one endpoint", []Service{hello(nil)}, []string{
			"add element ip berth-test service-ips { 10.96.0.20 . tcp . 8200 : goto svc-default/hello/tcp/8200 }",
			"ip saddr != 10.244.0.0/16 ip daddr 10.96.0.0/12 meta mark set meta mark | 0x4000\n\t\tip daddr . meta l4proto . th dport vmap @service-ips",
			"\t\tmeta l4proto tcp dnat to 10.244.0.5:8000\n",
			"add element ip berth-test hairpin { 10.244.0.5 . 10.244.0.5 }",
		}, []string{"numgen", "ext-", "add element ip berth-test no-endpoint-services"}},
		{"three endpoints split 1/3, 1/2, rest", []Service{hello(three)}, []string{
			"numgen random mod 3 == 0 meta l4proto tcp dnat to 10.244.0.5:8000",
			"numgen random mod 2 == 0 meta l4proto tcp dnat to 10.244.0.6:8000",
			"\t\tmeta l4proto tcp dnat to 10.244.0.7:8000\n",
		}, nil},
		{"no endpoints rejects clusterIP, externalIP and nodePort", []Service{hello(func(s *Service) {
			s.Ports[0].Endpoints = nil
			s.Ports[0].NodePort = 30080
			s.ExternalIPs = []netip.Addr{netip.MustParseAddr("172.20.1.30")}
		})}, []string{
			"add element ip berth-test no-endpoint-services { 10.96.0.20 . tcp . 8200 : goto reject-chain, 172.20.1.30 . tcp . 8200 : goto reject-chain }",
			"add element ip berth-test no-endpoint-nodeports { tcp . 30080 : goto reject-chain }",
		}, []string{"chain svc-default/hello", "add element ip berth-test service-ips"}},
		{"externalIP and nodePort go through the masquerading ext chain", []Service{hello(func(s *Service) {
			s.Ports[0].NodePort = 30080
			s.ExternalIPs = []netip.Addr{netip.MustParseAddr("172.20.1.30")}
		})}, []string{
			"172.20.1.30 . tcp . 8200 : goto ext-default/hello/tcp/8200",
			"add element ip berth-test service-nodeports { tcp . 30080 : goto ext-default/hello/tcp/8200 }",
			"chain ext-default/hello/tcp/8200 {\n\t\tmeta mark set meta mark | 0x4000\n\t\tgoto svc-default/hello/tcp/8200\n",
		}, nil},
		{"client IP affinity", []Service{hello(func(s *Service) { three(s); s.Affinity = 60 * time.Second })}, []string{
			"set aff-svc-default/hello/tcp/8200/10.244.0.6/8000/60s { type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }",
			"ip saddr @aff-svc-default/hello/tcp/8200/10.244.0.6/8000/60s update @aff-svc-default/hello/tcp/8200/10.244.0.6/8000/60s { ip saddr } meta l4proto tcp dnat to 10.244.0.6:8000",
			"numgen random mod 3 == 0 update @aff-svc-default/hello/tcp/8200/10.244.0.5/8000/60s { ip saddr } meta l4proto tcp dnat to 10.244.0.5:8000",
		}, nil},
		{"node-local endpoint is not in the hairpin set", []Service{hello(func(s *Service) { s.Ports[0].Endpoints = []Endpoint{ep("172.20.0.2", 6443)} })},
			[]string{"dnat to 172.20.0.2:6443"}, []string{"add element ip berth-test hairpin"}},
		{"internalTrafficPolicy Local uses this node's endpoints", []Service{hello(func(s *Service) {
			s.InternalLocal = true
			s.Ports[0].Endpoints = []Endpoint{{IP: netip.MustParseAddr("10.244.0.5"), Port: 8000, Node: "node1"}, {IP: netip.MustParseAddr("10.244.1.5"), Port: 8000, Node: "node2"}}
		})}, []string{"\t\tmeta l4proto tcp dnat to 10.244.0.5:8000\n\t}"}, []string{"10.244.1.5:8000", "numgen"}},
		{"internalTrafficPolicy Local without local endpoints drops", []Service{hello(func(s *Service) {
			s.InternalLocal = true
			s.Ports[0].Endpoints = []Endpoint{{IP: netip.MustParseAddr("10.244.1.5"), Port: 8000, Node: "node2"}}
		})}, []string{"no-endpoint-services { 10.96.0.20 . tcp . 8200 : drop }"}, []string{"chain svc-"}},
		{"externalTrafficPolicy Local keeps the source and this node's endpoints", []Service{hello(func(s *Service) {
			s.ExternalLocal = true
			s.Ports[0].NodePort = 30080
			s.Ports[0].Endpoints = []Endpoint{{IP: netip.MustParseAddr("10.244.0.5"), Port: 8000, Node: "node1"}, {IP: netip.MustParseAddr("10.244.1.5"), Port: 8000, Node: "node2"}}
		})}, []string{
			"chain ext-default/hello/tcp/8200 {\n\t\tip saddr 10.244.0.0/16 goto svc-default/hello/tcp/8200\n\t\tfib saddr type local meta mark set meta mark | 0x4000\n\t\tfib saddr type local goto svc-default/hello/tcp/8200\n\t\tgoto svl-default/hello/tcp/8200\n",
			"chain svl-default/hello/tcp/8200 {\n\t\tmeta l4proto tcp dnat to 10.244.0.5:8000\n\t}",
		}, nil},
		{"first of two services claiming one external IP wins", []Service{
			hello(func(s *Service) { s.ExternalIPs = []netip.Addr{netip.MustParseAddr("172.20.1.30")} }),
			hello(func(s *Service) {
				s.Name = "other"
				s.ClusterIP = netip.MustParseAddr("10.96.0.21")
				s.ExternalIPs = []netip.Addr{netip.MustParseAddr("172.20.1.30")}
			}),
		}, []string{"172.20.1.30 . tcp . 8200 : goto ext-default/hello/tcp/8200"}, []string{"172.20.1.30 . tcp . 8200 : goto ext-default/other"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := Render(testCfg, tc.svcs, nil)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("Render() lacks %q; got:\n%s", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("Render() has %q; got:\n%s", w, got)
				}
			}
		})
	}
}

func TestRenderIncremental(t *testing.T) {
	first, objs := Render(testCfg, []Service{hello(nil), hello(func(s *Service) { s.Name, s.ClusterIP = "gone", netip.MustParseAddr("10.96.0.21") })}, nil)
	if !strings.HasPrefix(first, "add table ip berth-test\ndelete table ip berth-test\n") {
		t.Fatalf("first render does not start from an empty table:\n%s", first)
	}
	second, _ := Render(testCfg, []Service{hello(nil)}, objs)
	if strings.Contains(second, "delete table") {
		t.Errorf("later render deletes the table (would drop affinity state):\n%s", second)
	}
	if !strings.Contains(second, "delete chain ip berth-test svc-default/gone/tcp/8200\n") {
		t.Errorf("later render keeps the stale chain:\n%s", second)
	}
	if strings.Contains(second, "svc-default/hello/") {
		t.Errorf("later render touches the unchanged chain:\n%s", second)
	}
	if !strings.Contains(second, "delete element ip berth-test service-ips { 10.96.0.21 . tcp . 8200 }") {
		t.Errorf("later render keeps the stale map element:\n%s", second)
	}
	moved := hello(func(s *Service) { s.Ports[0].Endpoints = []Endpoint{ep("10.244.0.9", 8000)} })
	third, _ := Render(testCfg, []Service{moved}, objs)
	for _, w := range []string{
		"flush chain ip berth-test svc-default/hello/tcp/8200\n",
		"meta l4proto tcp dnat to 10.244.0.9:8000",
		"delete element ip berth-test hairpin { 10.244.0.5 . 10.244.0.5 }",
		"add element ip berth-test hairpin { 10.244.0.9 . 10.244.0.9 }",
	} {
		if !strings.Contains(third, w) {
			t.Errorf("render after an endpoint moved lacks %q:\n%s", w, third)
		}
	}
}

// TestRenderParses feeds the scripts to the real nft in a throwaway network
// namespace (unshare), with -c so nothing is even committed there.
func TestRenderParses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for nft -c")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed")
	}
	svcs := []Service{
		hello(func(s *Service) {
			s.Ports = append(s.Ports, Port{Name: "dns", Protocol: "udp", Port: 53, NodePort: 30053, Endpoints: []Endpoint{ep("10.244.0.5", 5353)}})
			s.ExternalIPs = []netip.Addr{netip.MustParseAddr("172.20.1.30")}
			s.Affinity = time.Hour
		}),
		hello(func(s *Service) {
			s.Name, s.ClusterIP = "empty", netip.MustParseAddr("10.96.0.21")
			s.Ports[0].Endpoints, s.Ports[0].NodePort = nil, 30081
		}),
		hello(func(s *Service) {
			s.Name, s.ClusterIP = "local", netip.MustParseAddr("10.96.0.22")
			s.ExternalLocal, s.Ports[0].NodePort = true, 30082
			s.Ports[0].Endpoints = []Endpoint{{IP: netip.MustParseAddr("10.244.0.5"), Port: 8000, Node: "node1"}}
		}),
		hello(func(s *Service) {
			s.Name, s.ClusterIP, s.InternalLocal = "nolocal", netip.MustParseAddr("10.96.0.23"), true
		}),
	}
	first, objs := Render(testCfg, svcs, nil)
	// Incremental scripts apply on top of the table the first one made:
	// a Service goes, an endpoint moves, the affinity set of the old one goes.
	svcs[0].Ports[0].Endpoints = []Endpoint{ep("10.244.0.8", 8000)}
	second, _ := Render(testCfg, svcs[:1], objs)
	cmd := exec.Command("unshare", "--net", "sh", "-c", "nft -f /dev/fd/3 && nft -f /dev/fd/4")
	r3, w3, _ := os.Pipe()
	r4, w4, _ := os.Pipe()
	cmd.ExtraFiles = []*os.File{r3, r4}
	go func() { w3.WriteString(first); w3.Close() }()
	go func() { w4.WriteString(second); w4.Close() }()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft rejects the rules: %v\n%s\nfirst:\n%s\nsecond:\n%s", err, out, first, second)
	}
}
