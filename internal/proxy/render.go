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
	// ServiceCIDR holds the ClusterIPs; traffic to it from outside the pod
	// network is marked for masquerade once, before the Service lookup.
	ServiceCIDR netip.Prefix
	// NodeName is this node: Local traffic policies use its endpoints only.
	NodeName string
	// ClusterCIDR is the pod network: ClusterIP traffic from outside it (the
	// node itself, other hosts) is masqueraded so replies come back here.
	ClusterCIDR netip.Prefix
}

// Objects is what one render put in the table: the per-Service chains
// with their rules, the affinity sets and the verdict-map and hairpin
// elements. The next render diffs against it.
type Objects struct {
	chains   map[string][]string
	sets     map[string]int64
	elements map[string]map[string]string // set -> key -> verdict ("" for plain sets)
}

// Render returns one nft script that moves the table from what prev
// rendered to svcs, applied atomically with a single `nft -f`. With prev
// nil the table is deleted and rebuilt whole, which also removes whatever
// an earlier run left; otherwise only the chains, sets and map elements
// that changed are rewritten (as kube-proxy's partial syncs), so a resync
// after one endpoint moved stays small however many Services exist.
// The layout follows kube-proxy's nftables mode (see
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
// Affinity sets keep their elements across syncs, so session affinity
// survives unrelated changes.
func Render(cfg RenderConfig, svcs []Service, prev *Objects) (string, *Objects) {
	r := &renderer{cfg: cfg, t: cfg.Table}
	r.build(svcs)
	now := &Objects{chains: map[string][]string{}, sets: map[string]int64{}, elements: map[string]map[string]string{}}
	for _, c := range r.chains {
		now.chains[c.name] = c.rules
	}
	for _, s := range r.sets {
		now.sets[s.name] = s.timeout
	}
	for _, e := range r.elementLists() {
		m := map[string]string{}
		for _, el := range e.elems {
			k, v, _ := strings.Cut(el, " : ")
			m[k] = v
		}
		now.elements[e.set] = m
	}
	var b strings.Builder
	t := cfg.Table
	if prev == nil {
		fmt.Fprintf(&b, "add table ip %[1]s\ndelete table ip %[1]s\ntable ip %[1]s {\n", t)
		b.WriteString(fixedDecls)
		for _, s := range r.sets {
			fmt.Fprintf(&b, "\tset %s { type ipv4_addr ; flags dynamic,timeout ; timeout %ds ; }\n", s.name, s.timeout)
		}
		fmt.Fprintf(&b, fixedRules, cfg.ClusterCIDR, MasqueradeMark, cfg.ServiceCIDR)
		for _, c := range r.chains {
			writeChain(&b, c.name, c.rules)
		}
		b.WriteString("}\n")
		for _, e := range r.elementLists() {
			if len(e.elems) > 0 {
				fmt.Fprintf(&b, "add element ip %s %s { %s }\n", t, e.set, strings.Join(e.elems, ", "))
			}
		}
		return b.String(), now
	}
	// 1. New sets, new chains, and changed chains emptied and refilled.
	var changed []chain
	for _, s := range r.sets {
		if _, ok := prev.sets[s.name]; !ok {
			fmt.Fprintf(&b, "add set ip %s %s { type ipv4_addr ; flags dynamic,timeout ; timeout %ds ; }\n", t, s.name, s.timeout)
		}
	}
	for _, c := range r.chains {
		old, ok := prev.chains[c.name]
		if ok && slices.Equal(old, c.rules) {
			continue
		}
		if !ok {
			fmt.Fprintf(&b, "add chain ip %s %s\n", t, c.name)
		} else {
			fmt.Fprintf(&b, "flush chain ip %s %s\n", t, c.name)
		}
		changed = append(changed, c)
	}
	if len(changed) > 0 {
		fmt.Fprintf(&b, "table ip %s {\n", t)
		for _, c := range changed {
			writeChain(&b, c.name, c.rules)
		}
		b.WriteString("}\n")
	}
	// 2. Chains that go are emptied first, so nothing refers to them when
	// they and their map elements are deleted below.
	var gone []string
	for name := range prev.chains {
		if _, ok := now.chains[name]; !ok {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		fmt.Fprintf(&b, "flush chain ip %s %s\n", t, name)
	}
	// 3. Map elements: removed or changed keys out, new or changed keys in.
	for _, set := range elementSets {
		old, cur := prev.elements[set], now.elements[set]
		var del, add []string
		for k, v := range old {
			if nv, ok := cur[k]; !ok || nv != v {
				del = append(del, k)
			}
		}
		for k, v := range cur {
			if ov, ok := old[k]; !ok || ov != v {
				add = append(add, element(k, v))
			}
		}
		slices.Sort(del)
		slices.Sort(add)
		if len(del) > 0 {
			fmt.Fprintf(&b, "delete element ip %s %s { %s }\n", t, set, strings.Join(del, ", "))
		}
		if len(add) > 0 {
			fmt.Fprintf(&b, "add element ip %s %s { %s }\n", t, set, strings.Join(add, ", "))
		}
	}
	// 4. Unreferenced now: the chains and sets that went.
	for _, name := range gone {
		fmt.Fprintf(&b, "delete chain ip %s %s\n", t, name)
	}
	var goneSets []string
	for name := range prev.sets {
		if _, ok := now.sets[name]; !ok {
			goneSets = append(goneSets, name)
		}
	}
	slices.Sort(goneSets)
	for _, name := range goneSets {
		fmt.Fprintf(&b, "delete set ip %s %s\n", t, name)
	}
	return b.String(), now
}

// elementSets are the table's maps and sets whose elements Render manages.
var elementSets = []string{"service-ips", "service-nodeports", "no-endpoint-services", "no-endpoint-nodeports", "hairpin"}

func element(key, verdict string) string {
	if verdict == "" {
		return key
	}
	return key + " : " + verdict
}

func writeChain(b *strings.Builder, name string, rules []string) {
	fmt.Fprintf(b, "\tchain %s {\n", name)
	for _, rule := range rules {
		fmt.Fprintf(b, "\t\t%s\n", rule)
	}
	b.WriteString("\t}\n")
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

// fixedRules takes the cluster CIDR, the masquerade mark and the service
// CIDR. Marking in the services chain rather than in each Service's chain
// keeps a rule out of every one of them (a tenth of a 10k-Service rebuild).
const fixedRules = `	chain nat-prerouting {
		jump services
	}
	chain nat-output {
		jump services
	}
	chain services {
		ip saddr != %[1]s ip daddr %[3]s meta mark set meta mark | %#[2]x
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

type elementList struct {
	set   string
	elems []string
}

func (r *renderer) elementLists() []elementList {
	return []elementList{
		{"service-ips", r.serviceIPs}, {"service-nodeports", r.nodePorts},
		{"no-endpoint-services", r.noEndpoints}, {"no-endpoint-nodeports", r.noEndpointNodePorts},
		{"hairpin", r.hairpin},
	}
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
	var local []Endpoint
	for _, ep := range p.Endpoints {
		if ep.Node != "" && ep.Node == r.cfg.NodeName {
			local = append(local, ep)
		}
	}
	clusterKey := fmt.Sprintf("%s . %s . %d", s.ClusterIP, p.Protocol, p.Port)
	svcChain := ""
	switch {
	case !s.InternalLocal:
		svcChain = r.balance("svc-"+id, s, p.Protocol, p.Endpoints)
	case len(local) > 0:
		svcChain = r.balance("svc-"+id, s, p.Protocol, local)
	}
	if svcChain != "" {
		r.element(&r.serviceIPs, clusterKey, "goto "+svcChain)
	} else {
		// internalTrafficPolicy Local without a local endpoint: dropped, as upstream.
		r.element(&r.noEndpoints, clusterKey, "drop")
	}
	if len(s.ExternalIPs) == 0 && p.NodePort == 0 {
		return
	}
	extChain := "ext-" + id
	var ext []string
	if !s.ExternalLocal {
		// Traffic from outside always masquerades, so replies return through
		// this node whichever endpoint serves it.
		ext = []string{fmt.Sprintf("meta mark set meta mark | %#x", MasqueradeMark), "goto " + svcChain}
		if svcChain == "" {
			ext = []string{"drop"}
		}
	} else {
		// externalTrafficPolicy Local keeps the client's address: no
		// masquerade, only this node's endpoints. Pods and the node itself
		// are not "external" and take the cluster path (upstream does the same).
		if svcChain != "" {
			ext = append(ext,
				fmt.Sprintf("ip saddr %s goto %s", r.cfg.ClusterCIDR, svcChain),
				fmt.Sprintf("fib saddr type local meta mark set meta mark | %#x", MasqueradeMark),
				"fib saddr type local goto "+svcChain)
		}
		if len(local) > 0 {
			ext = append(ext, "goto "+r.balance("svl-"+id, s, p.Protocol, local))
		} else {
			ext = append(ext, "drop")
		}
	}
	r.chains = append(r.chains, chain{extChain, ext})
	for _, ip := range s.ExternalIPs {
		r.element(&r.serviceIPs, fmt.Sprintf("%s . %s . %d", ip, p.Protocol, p.Port), "goto "+extChain)
	}
	if p.NodePort != 0 {
		r.element(&r.nodePorts, fmt.Sprintf("%s . %d", p.Protocol, p.NodePort), "goto "+extChain)
	}
}

// balance adds a chain that DNATs to one of eps at random (rule i of n
// matches 1 in n-i), with ClientIP affinity if s has it, and returns its name.
func (r *renderer) balance(name string, s *Service, proto string, eps []Endpoint) string {
	var rules []string
	dnat := func(ep Endpoint) string {
		return fmt.Sprintf("meta l4proto %s dnat to %s:%d", proto, ep.IP, ep.Port)
	}
	update := make([]string, len(eps))
	if s.Affinity > 0 {
		// A client seen recently goes back to its endpoint (refreshing the
		// timeout); new clients are spread and remembered.
		for i, ep := range eps {
			// The timeout is part of the name: a set's timeout cannot change
			// in place, so a new timeout makes new sets and rewrites the chain.
			timeout := int64(s.Affinity.Seconds())
			set := fmt.Sprintf("aff-%s/%s/%d/%ds", name, ep.IP, ep.Port, timeout)
			r.sets = append(r.sets, affinitySet{set, timeout})
			update[i] = "update @" + set + " { ip saddr } "
			rules = append(rules, "ip saddr @"+set+" "+update[i]+dnat(ep))
		}
	}
	for i, ep := range eps {
		pick := ""
		if left := len(eps) - i; left > 1 {
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
	r.chains = append(r.chains, chain{name, rules})
	return name
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
