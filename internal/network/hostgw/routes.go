package hostgw

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Want is a route this node should have: another node's pod CIDR, reached
// through that node's InternalIP.
type Want struct {
	Node   string
	Dst    netip.Prefix
	NodeIP netip.Addr
}

// Route is a route as the kernel holds it: Dst via Gateway on Dev.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr
	Dev     string
}

func (r Route) String() string { return fmt.Sprintf("%s via %s dev %s", r.Dst, r.Gateway, r.Dev) }

// Desired returns a Want for every node other than self that has an IPv4
// pod CIDR inside cluster and an IPv4 InternalIP, sorted by destination.
// Nodes still joining (no pod CIDR or address yet) are skipped quietly;
// a pod CIDR outside cluster, or one overlapping self's or another node's,
// is skipped with an error in problems, because installing it would
// shadow a connected route or send one range two ways.
func Desired(self string, nodes []*corev1.Node, cluster netip.Prefix) (wants []Want, problems []error) {
	var own netip.Prefix
	for _, n := range nodes {
		if n.Name == self {
			own, _ = podCIDR(n) // unset until the allocator runs: nothing to protect yet
		}
	}
	sorted := slices.Clone(nodes)
	// Name order makes the winner of an overlap stable across syncs.
	slices.SortFunc(sorted, func(a, b *corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	for _, n := range sorted {
		if n.Name == self {
			continue
		}
		dst, ok := podCIDR(n)
		ip, hasIP := internalIP(n)
		if !ok || !hasIP {
			continue
		}
		switch {
		case !cluster.Contains(dst.Addr()) || dst.Bits() < cluster.Bits():
			problems = append(problems, fmt.Errorf("node %s: pod CIDR %s is outside the cluster CIDR %s", n.Name, dst, cluster))
			continue
		case own.IsValid() && own.Overlaps(dst):
			problems = append(problems, fmt.Errorf("node %s: pod CIDR %s overlaps this node's %s", n.Name, dst, own))
			continue
		}
		if i := slices.IndexFunc(wants, func(w Want) bool { return w.Dst.Overlaps(dst) }); i >= 0 {
			problems = append(problems, fmt.Errorf("node %s: pod CIDR %s overlaps node %s's %s", n.Name, dst, wants[i].Node, wants[i].Dst))
			continue
		}
		wants = append(wants, Want{Node: n.Name, Dst: dst, NodeIP: ip})
	}
	slices.SortFunc(wants, func(a, b Want) int { return comparePrefix(a.Dst, b.Dst) })
	return wants, problems
}

func podCIDR(n *corev1.Node) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(n.Spec.PodCIDR)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

func internalIP(n *corev1.Node) (netip.Addr, bool) {
	for _, a := range n.Status.Addresses {
		if ip, err := netip.ParseAddr(a.Address); a.Type == corev1.NodeInternalIP && err == nil && ip.Is4() {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// KernelRoute is one entry of `ip -j route show`, the fields used here.
type KernelRoute struct {
	Dst      string     `json:"dst"` // "default", "a.b.c.d" (a /32) or "a.b.c.d/n"
	Gateway  string     `json:"gateway"`
	Dev      string     `json:"dev"`
	Metric   int        `json:"metric"`
	Type     string     `json:"type"` // empty for unicast
	Nexthops []struct{} `json:"nexthops"`
}

func (k KernelRoute) prefix() (netip.Prefix, error) {
	switch {
	case k.Dst == "default":
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	case strings.Contains(k.Dst, "/"):
		return netip.ParsePrefix(k.Dst)
	default:
		a, err := netip.ParseAddr(k.Dst)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
}

// ErrViaDefault is returned for a node reached only through the default
// route: host-gw needs every node on a link or a specific route of this
// host, and pod traffic must never follow the default route off the machine.
var ErrViaDefault = errors.New("hostgw: node address is reached only through the default route")

// Nexthop turns w into a kernel route the way the node address itself is
// routed, from matches (`ip -j route show match NODEIP`, main table).
// The kernel accepts only a gateway that is directly reachable, so a node
// behind a gateway route (in e2e, the server's NodeIP via a /32 through
// the link) gets that route's gateway and device rather than its own
// address; a connected node gets its own address.
func Nexthop(w Want, matches []KernelRoute) (Route, error) {
	best, bestBits := -1, -1
	for i, m := range matches {
		p, err := m.prefix()
		if err != nil {
			return Route{}, fmt.Errorf("route %q: %w", m.Dst, err)
		}
		if p.Bits() > bestBits || (p.Bits() == bestBits && m.Metric < matches[best].Metric) {
			best, bestBits = i, p.Bits()
		}
	}
	switch {
	case best < 0:
		return Route{}, fmt.Errorf("node %s: no route to %s", w.Node, w.NodeIP)
	case bestBits == 0:
		return Route{}, fmt.Errorf("node %s at %s: %w", w.Node, w.NodeIP, ErrViaDefault)
	}
	m := matches[best]
	if (m.Type != "" && m.Type != "unicast") || len(m.Nexthops) > 0 || m.Dev == "" {
		return Route{}, fmt.Errorf("node %s: route %s to %s is not a single-path unicast route", w.Node, m.Dst, w.NodeIP)
	}
	r := Route{Dst: w.Dst, Gateway: w.NodeIP, Dev: m.Dev}
	if m.Gateway != "" {
		gw, err := netip.ParseAddr(m.Gateway)
		if err != nil {
			return Route{}, fmt.Errorf("route %s: gateway %q: %w", m.Dst, m.Gateway, err)
		}
		r.Gateway = gw
	}
	return r, nil
}

// Diff returns the routes to replace (missing, or with another gateway or
// device) and those to delete (installed by us for a destination no
// longer wanted). Both come out sorted by destination.
func Diff(want, have []Route) (replace, remove []Route) {
	cur := make(map[netip.Prefix]Route, len(have))
	for _, r := range have {
		cur[r.Dst] = r
	}
	wanted := make(map[netip.Prefix]bool, len(want))
	for _, r := range want {
		wanted[r.Dst] = true
		if cur[r.Dst] != r {
			replace = append(replace, r)
		}
	}
	for _, r := range have {
		if !wanted[r.Dst] {
			remove = append(remove, r)
		}
	}
	byDst := func(a, b Route) int { return comparePrefix(a.Dst, b.Dst) }
	slices.SortFunc(replace, byDst)
	slices.SortFunc(remove, byDst)
	return replace, remove
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
