package hostgw

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// fakeHost is a routing table in memory; ops records what sync did, in order.
type fakeHost struct {
	routes  map[netip.Addr][]KernelRoute // what `ip route show match` answers per node address
	table   []Route                      // routes of RouteProtocol
	forward map[string]bool
	ops     []string
}

func (h *fakeHost) matching(_ context.Context, a netip.Addr) ([]KernelRoute, error) {
	return h.routes[a], nil
}
func (h *fakeHost) installed(context.Context) ([]Route, error) { return h.table, nil }
func (h *fakeHost) replace(_ context.Context, r Route) error {
	if !h.forward[r.Dev] {
		h.ops = append(h.ops, "route before forwarding on "+r.Dev)
	}
	h.ops = append(h.ops, "replace "+r.String())
	return nil
}
func (h *fakeHost) remove(_ context.Context, dst netip.Prefix) error {
	h.ops = append(h.ops, "remove "+dst.String())
	return nil
}
func (h *fakeHost) enableForwarding(dev string) error {
	if !h.forward[dev] {
		h.ops = append(h.ops, "forward "+dev)
	}
	h.forward[dev] = true
	return nil
}

func TestSync(t *testing.T) {
	link := map[netip.Addr][]KernelRoute{
		netip.MustParseAddr("172.21.1.2"): {{Dst: "172.21.1.0/24", Dev: "agent1"}},
		netip.MustParseAddr("172.21.2.2"): {{Dst: "172.21.2.0/24", Dev: "agent2"}},
		netip.MustParseAddr("192.0.2.50"): {{Dst: "default", Gateway: "192.0.2.1", Dev: "eth0"}},
	}
	self := node("node1", "10.244.0.0/24", internal("172.20.0.2"))
	tests := []struct {
		name  string
		nodes []*corev1.Node
		table []Route
		ops   []string
	}{
		{
			name:  "new nodes: forwarding on their link, then their routes",
			nodes: []*corev1.Node{self, node("node2", "10.244.1.0/24", internal("172.21.1.2")), node("node3", "10.244.2.0/24", internal("172.21.2.2"))},
			ops: []string{"forward agent1", "forward agent2",
				"replace 10.244.1.0/24 via 172.21.1.2 dev agent1", "replace 10.244.2.0/24 via 172.21.2.2 dev agent2"},
		},
		{
			name:  "in sync: nothing to do",
			nodes: []*corev1.Node{self, node("node2", "10.244.1.0/24", internal("172.21.1.2"))},
			table: []Route{route("10.244.1.0/24", "172.21.1.2", "agent1")},
			ops:   []string{"forward agent1"},
		},
		{
			name:  "deleted node: its route goes",
			nodes: []*corev1.Node{self},
			table: []Route{route("10.244.1.0/24", "172.21.1.2", "agent1")},
			ops:   []string{"remove 10.244.1.0/24"},
		},
		{
			name:  "node reached only by the default route: no route, an old one goes",
			nodes: []*corev1.Node{self, node("far", "10.244.3.0/24", internal("192.0.2.50"))},
			table: []Route{route("10.244.3.0/24", "192.0.2.50", "eth0")},
			ops:   []string{"remove 10.244.3.0/24"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
			c, err := New(Config{NodeName: "node1", ClusterCIDR: cluster, StateDir: t.TempDir()}, factory)
			if err != nil {
				t.Fatal(err)
			}
			h := &fakeHost{routes: link, table: tc.table, forward: map[string]bool{}}
			c.host = h
			for _, n := range tc.nodes {
				if err := factory.Core().V1().Nodes().Informer().GetIndexer().Add(n); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.sync(context.Background()); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if !reflect.DeepEqual(h.ops, tc.ops) {
				t.Errorf("sync did %q, want %q", h.ops, tc.ops)
			}
		})
	}
}
