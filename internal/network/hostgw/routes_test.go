package hostgw

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var cluster = netip.MustParsePrefix("10.244.0.0/16")

func node(name, podCIDR string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDR: podCIDR},
		Status:     corev1.NodeStatus{Addresses: addrs},
	}
}

func internal(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func want(name, dst, ip string) Want {
	return Want{Node: name, Dst: netip.MustParsePrefix(dst), NodeIP: netip.MustParseAddr(ip)}
}

func TestDesired(t *testing.T) {
	tests := []struct {
		name     string
		nodes    []*corev1.Node
		want     []Want
		problems []string // substrings, one per problem
	}{
		{
			name:  "single node has nothing to route",
			nodes: []*corev1.Node{node("node1", "10.244.0.0/24", internal("172.20.0.2"))},
		},
		{
			name: "every other node, sorted by pod CIDR",
			nodes: []*corev1.Node{
				node("node3", "10.244.2.0/24", internal("172.21.2.2")),
				node("node1", "10.244.0.0/24", internal("172.20.0.2")),
				node("node2", "10.244.1.0/24", internal("172.21.1.2")),
			},
			want: []Want{want("node2", "10.244.1.0/24", "172.21.1.2"), want("node3", "10.244.2.0/24", "172.21.2.2")},
		},
		{
			name: "joining nodes without pod CIDR or InternalIP are skipped quietly",
			nodes: []*corev1.Node{
				node("node1", "10.244.0.0/24", internal("172.20.0.2")),
				node("nocidr", "", internal("172.21.1.2")),
				node("noip", "10.244.2.0/24", corev1.NodeAddress{Type: corev1.NodeHostName, Address: "noip"}),
				node("v6only", "10.244.3.0/24", internal("fd00::3")),
			},
		},
		{
			name: "the IPv4 InternalIP is used when there are several addresses",
			nodes: []*corev1.Node{
				node("node1", "10.244.0.0/24", internal("172.20.0.2")),
				node("node2", "10.244.1.0/24", internal("fd00::2"), corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "192.0.2.9"}, internal("172.21.1.2")),
			},
			want: []Want{want("node2", "10.244.1.0/24", "172.21.1.2")},
		},
		{
			name: "pod CIDR outside the cluster CIDR is refused",
			nodes: []*corev1.Node{
				node("node1", "10.244.0.0/24", internal("172.20.0.2")),
				node("rogue", "192.168.0.0/24", internal("172.21.1.2")),
				node("wide", "10.0.0.0/8", internal("172.21.2.2")),
			},
			problems: []string{"rogue: pod CIDR 192.168.0.0/24 is outside", "wide: pod CIDR 10.0.0.0/8 is outside"},
		},
		{
			name: "a pod CIDR overlapping this node's would shadow the bridge",
			nodes: []*corev1.Node{
				node("node1", "10.244.0.0/24", internal("172.20.0.2")),
				node("node2", "10.244.0.128/25", internal("172.21.1.2")),
			},
			problems: []string{"node2: pod CIDR 10.244.0.128/25 overlaps this node's 10.244.0.0/24"},
		},
		{
			name: "of two overlapping nodes the first by name wins",
			nodes: []*corev1.Node{
				node("node1", "10.244.0.0/24", internal("172.20.0.2")),
				node("node3", "10.244.1.0/24", internal("172.21.2.2")),
				node("node2", "10.244.1.0/24", internal("172.21.1.2")),
			},
			want:     []Want{want("node2", "10.244.1.0/24", "172.21.1.2")},
			problems: []string{"node3: pod CIDR 10.244.1.0/24 overlaps node node2's"},
		},
		{
			name: "self without a pod CIDR yet still routes the others",
			nodes: []*corev1.Node{
				node("node1", "", internal("172.20.0.2")),
				node("node2", "10.244.1.0/24", internal("172.21.1.2")),
			},
			want: []Want{want("node2", "10.244.1.0/24", "172.21.1.2")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, problems := Desired("node1", tc.nodes, cluster)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Desired = %v, want %v", got, tc.want)
			}
			if len(problems) != len(tc.problems) {
				t.Fatalf("problems = %v, want %d like %q", problems, len(tc.problems), tc.problems)
			}
			for i, p := range problems {
				if !strings.Contains(p.Error(), tc.problems[i]) {
					t.Errorf("problem %d = %q, want it to contain %q", i, p, tc.problems[i])
				}
			}
		})
	}
}

func route(dst, gw, dev string) Route {
	return Route{Dst: netip.MustParsePrefix(dst), Gateway: netip.MustParseAddr(gw), Dev: dev}
}

func TestNexthop(t *testing.T) {
	w := want("node1", "10.244.0.0/24", "172.20.0.2")
	tests := []struct {
		name    string
		matches []KernelRoute
		want    Route
		err     string
	}{
		{
			name:    "connected node: its own address is the gateway",
			matches: []KernelRoute{{Dst: "172.20.0.0/24", Dev: "uplink"}},
			want:    route("10.244.0.0/24", "172.20.0.2", "uplink"),
		},
		{
			// The e2e agent: the server's NodeIP is a /32 through the link.
			name: "node behind a host route: that route's gateway and device",
			matches: []KernelRoute{
				{Dst: "172.20.0.2", Gateway: "172.21.1.1", Dev: "uplink"},
			},
			want: route("10.244.0.0/24", "172.21.1.1", "uplink"),
		},
		{
			name: "longest prefix wins over the default route",
			matches: []KernelRoute{
				{Dst: "default", Gateway: "192.0.2.1", Dev: "eth0"},
				{Dst: "172.20.0.0/16", Gateway: "172.21.1.1", Dev: "uplink"},
			},
			want: route("10.244.0.0/24", "172.21.1.1", "uplink"),
		},
		{
			name: "same prefix: lowest metric wins",
			matches: []KernelRoute{
				{Dst: "172.20.0.0/24", Gateway: "172.21.1.1", Dev: "uplink", Metric: 100},
				{Dst: "172.20.0.0/24", Gateway: "172.21.2.1", Dev: "backup", Metric: 10},
			},
			want: route("10.244.0.0/24", "172.21.2.1", "backup"),
		},
		{
			name:    "only the default route: refused, pod traffic must not leave that way",
			matches: []KernelRoute{{Dst: "default", Gateway: "192.0.2.1", Dev: "eth0"}},
			err:     ErrViaDefault.Error(),
		},
		{
			name: "no route at all",
			err:  "no route to 172.20.0.2",
		},
		{
			name:    "blackhole route",
			matches: []KernelRoute{{Dst: "172.20.0.0/16", Type: "blackhole"}},
			err:     "not a single-path unicast route",
		},
		{
			name:    "multipath route",
			matches: []KernelRoute{{Dst: "172.20.0.0/16", Nexthops: []struct{}{{}, {}}}},
			err:     "not a single-path unicast route",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Nexthop(w, tc.matches)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Nexthop = %v, %v; want error containing %q", got, err, tc.err)
				}
				if tc.err == ErrViaDefault.Error() && !errors.Is(err, ErrViaDefault) {
					t.Errorf("error %v does not wrap ErrViaDefault", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Nexthop = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	a := route("10.244.1.0/24", "172.21.1.2", "agent1")
	b := route("10.244.2.0/24", "172.21.2.2", "agent2")
	bMoved := route("10.244.2.0/24", "172.21.3.2", "agent3")
	tests := []struct {
		name            string
		want, have      []Route
		replace, remove []Route
	}{
		{name: "nothing installed yet", want: []Route{b, a}, replace: []Route{a, b}},
		{name: "in sync", want: []Route{a, b}, have: []Route{b, a}},
		{name: "node gone", want: []Route{a}, have: []Route{a, b}, remove: []Route{b}},
		{name: "node moved to another address", want: []Route{a, bMoved}, have: []Route{a, b}, replace: []Route{bMoved}},
		{name: "last other node gone", have: []Route{a, b}, remove: []Route{a, b}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			replace, remove := Diff(tc.want, tc.have)
			if !reflect.DeepEqual(replace, tc.replace) || !reflect.DeepEqual(remove, tc.remove) {
				t.Errorf("Diff = replace %v remove %v; want replace %v remove %v", replace, remove, tc.replace, tc.remove)
			}
		})
	}
}
