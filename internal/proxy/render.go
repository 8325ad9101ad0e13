package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// MasqueradeMark is the packet mark bit that asks nat-postrouting to
// masquerade, as kube-proxy's 0x4000.
const MasqueradeMark = 0x4000

// RenderConfig is what the rules depend on besides the Services.
type RenderConfig struct {
	// Table is the nftables table (family ip) the proxy owns entirely.
	Table string
	// ClusterCIDR is the pod network: ClusterIP traffic from outside it (the
	// node itself, other hosts) is masqueraded so replies come back here.
	ClusterCIDR netip.Prefix
}

// Objects are the named chains and sets one render created; the next
// render deletes those it no longer makes.
type Objects struct {
	Chains, Sets []string
}

// Render returns one nft script that moves the table from what prev
// rendered to svcs, applied atomically with a single `nft -f`. With prev
// nil the table is deleted first, which also removes whatever an earlier
// run left. The layout follows kube-proxy's nftables mode (see
// pkg/proxy/nftables/proxier.go upstream):
//
//   - verdict map service-ips: ClusterIP and external IP . proto . port ->
//     goto the Service port's chain; service-nodeports: proto . port for
//     destinations local to the node (127.0.0.0/8 excluded: loopback
//     NodePorts would need route_localnet);
//   - one chain per Service port choosing an endpoint at random (the
//     statistic layout: rule i of n matches 1 in n-i) and DNATing to it,
//     with ClientIP affinity through a timeout set per endpoint;
//   - masquerade for traffic from outside the pod network, all traffic via
//     external addresses, and hairpin (a pod reaching itself), via the
//     0x4000 mark or the hairpin set in nat-postrouting;
//   - ports without endpoints are rejected in filter chains (TCP reset,
//     ICMP port unreachable otherwise), so clients fail at once.
//
// Rules are flushed and re-added on every sync, but sets keep their
// elements across syncs, so session affinity survives unrelated changes.
func Render(cfg RenderConfig, svcs []Service, prev *Objects) (string, *Objects) {
	r := &renderer{cfg: cfg, t: cfg.Table}
	r.build(svcs)
	var b strings.Builder
	t := cfg.Table
	if prev == nil {
		fmt.Fprintf(&b, "add table ip %s\ndelete table ip %s\n", t, t)
	}
	// Declarations are idempotent: existing chains and sets stay as they are.
	fmt.Fprintf(&b, "table ip %s {\n", t)
	b.WriteString(fixedDecls)
	for _, s := range r.sets {
		fmt.Fprintf(&b, "\tset %s { type ipv4_addr ; flags dynamic,timeout ; timeout %ds ; }\n", s.name, s.timeout)
	}
	for _, c := range r.chains {
		fmt.Fprintf(&b, "\tchain %s { }\n", c.name)
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "flush table ip %s\n", t)
	for _, m := range []string{"map service-ips", "map service-nodeports", "map no-endpoint-services", "map no-endpoint-nodeports", "set hairpin"} {
		kind, name, _ := strings.Cut(m, " ")
		fmt.Fprintf(&b, "flush %s ip %s %s\n", kind, t, name)
	}
	fmt.Fprintf(&b, "table ip %s {\n", t)
	fmt.Fprintf(&b, fixedRules, cfg.ClusterCIDR, MasqueradeMark)
	for _, c := range r.chains {
		fmt.Fprintf(&b, "\tchain %s {\n", c.name)
		for _, rule := range c.rules {
			fmt.Fprintf(&b, "\t\t%s\n", rule)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	for _, e := range []struct {
		set   string
		elems []string
	}{
		{"service-ips", r.serviceIPs}, {"service-nodeports", r.nodePorts},
		{"no-endpoint-services", r.noEndpoints}, {"no-endpoint-nodeports", r.noEndpointNodePorts},
		{"hairpin", r.hairpin},
	} {
		if len(e.elems) > 0 {
			fmt.Fprintf(&b, "add element ip %s %s { %s }\n", t, e.set, strings.Join(e.elems, ", "))
		}
	}
	now := &Objects{}
	for _, c := range r.chains {
		now.Chains = append(now.Chains, c.name)
	}
	for _, s := range r.sets {
		now.Sets = append(now.Sets, s.name)
	}
	if prev != nil {
		// Rules are gone and the maps flushed, so nothing refers to these any more.
		for _, c := range prev.Chains {
			if !slices.Contains(now.Chains, c) {
				fmt.Fprintf(&b, "delete chain ip %s %s\n", t, c)
			}
		}
		for _, s := range prev.Sets {
			if !slices.Contains(now.Sets, s) {
				fmt.Fprintf(&b, "delete set ip %s %s\n", t, s)
			}
		}
	}
	return b.String(), now
}

const fixedDecls = `	map service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
	map service-nodeports { type inet_proto . inet_service : verdict ; }
	map no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }
	map no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }
	set hairpin { type ipv4_addr . ipv4_addr ; }
	chain nat-prerouting { type nat hook prerouting priority dstnat ; policy accept ; }
	chain nat-output { type nat hook output priority -100 ; policy accept ; }
	chain nat-postrouting { type nat hook postrouting priority srcnat ; policy accept ; }
	chain filter-input { type filter hook input priority -110 ; policy accept ; }
	chain filter-forward { type filter hook forward priority -110 ; policy accept ; }
	chain filter-output { type filter hook output priority -110 ; policy accept ; }
	chain services { }
	chain reject-chain { }
`

// fixedRules takes the cluster CIDR and the masquerade mark.
const fixedRules = `	chain nat-prerouting {
		jump services
	}
	chain nat-output {
		jump services
	}
	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
		fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports
	}
	chain nat-postrouting {
		ct status dnat ip saddr . ip daddr @hairpin masquerade
		meta mark & %#[2]x == 0 return
		meta mark set meta mark ^ %#[2]x
		masquerade
	}
	chain filter-input {
		ct state new ip daddr . meta l4proto . th dport vmap @no-endpoint-services
		ct state new fib daddr type local meta l4proto . th dport vmap @no-endpoint-nodeports
	}
	chain filter-forward {
		ct state new ip daddr . meta l4proto . th dport vmap @no-endpoint-services
	}
	chain filter-output {
		ct state new ip daddr . meta l4proto . th dport vmap @no-endpoint-services
		ct state new fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports
	}
	chain reject-chain {
		meta l4proto tcp reject with tcp reset
		reject
	}
`

type chain struct {
	name  string
	rules []string
}

type affinitySet struct {
	name    string
	timeout int64
}

type renderer struct {
	cfg                                                     RenderConfig
	t                                                       string
	chains                                                  []chain
	sets                                                    []affinitySet
	serviceIPs, nodePorts, noEndpoints, noEndpointNodePorts []string
	hairpin                                                 []string
	hairpinSeen                                             map[netip.Addr]bool
	// keys already in a verdict map: two Services claiming one external
	// IP and port would make the transaction fail, so the first wins.
	keys map[string]bool
}

// element adds key : verdict to list unless the key is taken.
func (r *renderer) element(list *[]string, key, verdict string) {
	if r.keys[key] {
		return
	}
	r.keys[key] = true
	*list = append(*list, key+" : "+verdict)
}

func (r *renderer) build(svcs []Service) {
	r.hairpinSeen = map[netip.Addr]bool{}
	r.keys = map[string]bool{}
	for i := range svcs {
		s := &svcs[i]
		for _, p := range s.Ports {
			r.port(s, p)
		}
	}
}

func (r *renderer) port(s *Service, p Port) {
	id := s.Namespace + "/" + s.Name + "/" + p.Protocol + "/" + itoa(p.Port)
	dests := append([]netip.Addr{s.ClusterIP}, s.ExternalIPs...)
	if len(p.Endpoints) == 0 {
		for _, ip := range dests {
			r.element(&r.noEndpoints, fmt.Sprintf("%s . %s . %d", ip, p.Protocol, p.Port), "goto reject-chain")
		}
		if p.NodePort != 0 {
			r.element(&r.noEndpointNodePorts, fmt.Sprintf("%s . %d", p.Protocol, p.NodePort), "goto reject-chain")
		}
		return
	}
	svcChain := "svc-" + id
	rules := []string{fmt.Sprintf("ip saddr != %s meta mark set meta mark | %#x", r.cfg.ClusterCIDR, MasqueradeMark)}
	dnat := func(ep Endpoint) string {
		return fmt.Sprintf("meta l4proto %s dnat to %s:%d", p.Protocol, ep.IP, ep.Port)
	}
	update := make([]string, len(p.Endpoints))
	if s.Affinity > 0 {
		// A client seen recently goes back to its endpoint (refreshing the
		// timeout); new clients are spread and remembered.
		for i, ep := range p.Endpoints {
			set := "aff-" + id + "/" + ep.IP.String() + "/" + itoa(ep.Port)
			r.sets = append(r.sets, affinitySet{set, int64(s.Affinity.Seconds())})
			update[i] = "update @" + set + " { ip saddr } "
			rules = append(rules, "ip saddr @"+set+" "+update[i]+dnat(ep))
		}
	}
	n := len(p.Endpoints)
	for i, ep := range p.Endpoints {
		pick := ""
		if left := n - i; left > 1 {
			pick = fmt.Sprintf("numgen random mod %d == 0 ", left)
		}
		rules = append(rules, pick+update[i]+dnat(ep))
		// Only pods sit on bridge ports; a node-local endpoint (the API
		// server, DNS) must not be masqueraded onto lo.
		if r.cfg.ClusterCIDR.Contains(ep.IP) && !r.hairpinSeen[ep.IP] {
			r.hairpinSeen[ep.IP] = true
			r.hairpin = append(r.hairpin, ep.IP.String()+" . "+ep.IP.String())
		}
	}
	r.chains = append(r.chains, chain{svcChain, rules})
	r.element(&r.serviceIPs, fmt.Sprintf("%s . %s . %d", s.ClusterIP, p.Protocol, p.Port), "goto "+svcChain)
	if len(s.ExternalIPs) == 0 && p.NodePort == 0 {
		return
	}
	// Traffic from outside always masquerades, so replies return through
	// this node whichever endpoint serves it.
	extChain := "ext-" + id
	r.chains = append(r.chains, chain{extChain, []string{
		fmt.Sprintf("meta mark set meta mark | %#x", MasqueradeMark),
		"goto " + svcChain,
	}})
	for _, ip := range s.ExternalIPs {
		r.element(&r.serviceIPs, fmt.Sprintf("%s . %s . %d", ip, p.Protocol, p.Port), "goto "+extChain)
	}
	if p.NodePort != 0 {
		r.element(&r.nodePorts, fmt.Sprintf("%s . %d", p.Protocol, p.NodePort), "goto "+extChain)
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
