package netpol

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// State is what the rules are computed from.
type State struct {
	Node       string // only this node's pods get chains: its forward hook sees their traffic
	Policies   []*networkingv1.NetworkPolicy
	Pods       []*corev1.Pod // every pod of the cluster (peers may live anywhere)
	Namespaces []*corev1.Namespace
}

// Render returns one nft script that replaces table with the rules for st.
//
// A base chain on the forward hook (which sees bridged pod traffic, since
// bridge-nf-call-iptables is on) lets established and related packets
// through, then jumps to a per-pod ingress chain by destination IP and a
// per-pod egress chain by source IP. Each per-pod chain returns when any
// rule of any policy selecting the pod allows the packet and drops
// otherwise, so a pod selected by a policy is isolated in that direction
// (default deny) and policies add up. Traffic from the node itself (probes)
// does not pass forward and is never blocked; egress to the node (the
// cluster DNS listener) is not either.
func Render(table string, st State) string {
	nsLabels := map[string]labels.Set{}
	for _, ns := range st.Namespaces {
		nsLabels[ns.Name] = ns.Labels
	}
	var live []*corev1.Pod
	for _, p := range st.Pods {
		if p.Status.PodIP != "" && !p.Spec.HostNetwork && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			live = append(live, p)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "add table ip %[1]s\ndelete table ip %[1]s\ntable ip %[1]s {\n", table)
	b.WriteString("\tmap ingress-pods { type ipv4_addr : verdict ; }\n\tmap egress-pods { type ipv4_addr : verdict ; }\n")
	b.WriteString("\tchain forward {\n\t\ttype filter hook forward priority 0 ; policy accept ;\n" +
		"\t\tct state established,related accept\n\t\tip daddr vmap @ingress-pods\n\t\tip saddr vmap @egress-pods\n\t}\n")
	var ingress, egress []string
	for _, pod := range live {
		if pod.Spec.NodeName != st.Node {
			continue
		}
		for _, dir := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
			var rules []string
			selected := false
			for _, pol := range st.Policies {
				if pol.Namespace != pod.Namespace || !hasType(pol, dir) || !selects(&pol.Spec.PodSelector, pod.Labels) {
					continue
				}
				selected = true
				rules = append(rules, policyRules(pol, dir, pod, live, nsLabels)...)
			}
			if !selected {
				continue
			}
			name := "ing-"
			if dir == networkingv1.PolicyTypeEgress {
				name = "egr-"
			}
			name += pod.Namespace + "/" + pod.Name
			fmt.Fprintf(&b, "\tchain %s {\n", name)
			for _, r := range rules {
				fmt.Fprintf(&b, "\t\t%s return\n", r)
			}
			b.WriteString("\t\tdrop\n\t}\n")
			el := pod.Status.PodIP + " : jump " + name
			if dir == networkingv1.PolicyTypeIngress {
				ingress = append(ingress, el)
			} else {
				egress = append(egress, el)
			}
		}
	}
	b.WriteString("}\n")
	if len(ingress) > 0 {
		fmt.Fprintf(&b, "add element ip %s ingress-pods { %s }\n", table, strings.Join(ingress, ", "))
	}
	if len(egress) > 0 {
		fmt.Fprintf(&b, "add element ip %s egress-pods { %s }\n", table, strings.Join(egress, ", "))
	}
	return b.String()
}

// hasType applies upstream's default: Ingress always, Egress when the
// policy has egress rules, unless policyTypes says otherwise.
func hasType(pol *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(pol.Spec.PolicyTypes) == 0 {
		return t == networkingv1.PolicyTypeIngress || len(pol.Spec.Egress) > 0
	}
	return slices.Contains(pol.Spec.PolicyTypes, t)
}

func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(l))
}

// policyRules renders the match part of each allow rule one policy gives
// pod in one direction. A rule with no peers allows any address; with no
// ports, any port.
func policyRules(pol *networkingv1.NetworkPolicy, dir networkingv1.PolicyType, pod *corev1.Pod, pods []*corev1.Pod, nsLabels map[string]labels.Set) []string {
	addr := "ip saddr"
	if dir == networkingv1.PolicyTypeEgress {
		addr = "ip daddr"
	}
	type rule struct {
		peers []networkingv1.NetworkPolicyPeer
		ports []networkingv1.NetworkPolicyPort
	}
	var rs []rule
	if dir == networkingv1.PolicyTypeIngress {
		for _, r := range pol.Spec.Ingress {
			rs = append(rs, rule{r.From, r.Ports})
		}
	} else {
		for _, r := range pol.Spec.Egress {
			rs = append(rs, rule{r.To, r.Ports})
		}
	}
	var out []string
	for _, r := range rs {
		// Each peer becomes (address match, the pods behind it); pods are
		// needed to resolve named ports on the far side of egress rules.
		type peer struct {
			match string
			pods  []*corev1.Pod
		}
		var peers []peer
		if len(r.peers) == 0 {
			peers = []peer{{"", nil}}
		}
		for _, p := range r.peers {
			if p.IPBlock != nil {
				m := fmt.Sprintf("%s %s", addr, p.IPBlock.CIDR)
				if len(p.IPBlock.Except) > 0 {
					m += fmt.Sprintf(" %s != { %s }", addr, strings.Join(p.IPBlock.Except, ", "))
				}
				peers = append(peers, peer{m, nil})
				continue
			}
			var matched []*corev1.Pod
			for _, q := range pods {
				if peerSelects(pol.Namespace, p, q, nsLabels) {
					matched = append(matched, q)
				}
			}
			set, ok := ipSet(matched)
			if !ok {
				continue // selects nothing: allows nothing
			}
			peers = append(peers, peer{addr + " " + set, matched})
		}
		for _, pe := range peers {
			if len(r.ports) == 0 {
				out = append(out, strings.TrimSpace(pe.match))
				continue
			}
			for _, port := range r.ports {
				if port.Port != nil && port.Port.Type == intstr.String {
					// A named port is resolved on the pod that owns it:
					// the selected pod for ingress, each peer pod for egress.
					owners := []*corev1.Pod{pod}
					if dir == networkingv1.PolicyTypeEgress {
						owners = pe.pods
					}
					for _, o := range owners {
						if n, ok := namedPort(o, port.Port.StrVal, proto(port)); ok {
							m := pe.match
							if dir == networkingv1.PolicyTypeEgress {
								m = "ip daddr " + o.Status.PodIP
							}
							out = append(out, strings.TrimSpace(fmt.Sprintf("%s meta l4proto %s th dport %d", m, proto(port), n)))
						}
					}
					continue
				}
				out = append(out, strings.TrimSpace(pe.match+" "+portMatch(port)))
			}
		}
	}
	return out
}

// peerSelects reports whether a pod/namespace selector peer of a policy in
// namespace ns matches pod q.
func peerSelects(ns string, p networkingv1.NetworkPolicyPeer, q *corev1.Pod, nsLabels map[string]labels.Set) bool {
	if p.NamespaceSelector != nil {
		if !selects(p.NamespaceSelector, nsLabels[q.Namespace]) {
			return false
		}
	} else if q.Namespace != ns {
		return false
	}
	return p.PodSelector == nil || selects(p.PodSelector, q.Labels)
}

// ipSet is an anonymous nft set of the pods' IPv4 addresses; false when
// there is none.
func ipSet(pods []*corev1.Pod) (string, bool) {
	var ips []string
	for _, p := range pods {
		if a, err := netip.ParseAddr(p.Status.PodIP); err == nil && a.Is4() && !slices.Contains(ips, a.String()) {
			ips = append(ips, a.String())
		}
	}
	slices.Sort(ips)
	return "{ " + strings.Join(ips, ", ") + " }", len(ips) > 0
}

func proto(p networkingv1.NetworkPolicyPort) string {
	if p.Protocol == nil {
		return "tcp"
	}
	return strings.ToLower(string(*p.Protocol))
}

func portMatch(p networkingv1.NetworkPolicyPort) string {
	m := "meta l4proto " + proto(p)
	if p.Port == nil {
		return m
	}
	if p.EndPort != nil && *p.EndPort > p.Port.IntVal {
		return fmt.Sprintf("%s th dport %d-%d", m, p.Port.IntVal, *p.EndPort)
	}
	return fmt.Sprintf("%s th dport %d", m, p.Port.IntVal)
}

func namedPort(pod *corev1.Pod, name, proto string) (int32, bool) {
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			pp := strings.ToLower(string(cp.Protocol))
			if pp == "" {
				pp = "tcp"
			}
			if cp.Name == name && pp == proto {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}
