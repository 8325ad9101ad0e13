package proxy

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Service is one Service as the proxy renders it: only what reaches the
// nftables rules.
type Service struct {
	Namespace, Name string
	ClusterIP       netip.Addr
	// ExternalIPs are spec.externalIPs and the LoadBalancer ingress IPs:
	// traffic to them is treated as coming from outside (masqueraded).
	ExternalIPs []netip.Addr
	// Affinity is the ClientIP session affinity timeout; 0 means none.
	Affinity time.Duration
	// InternalLocal and ExternalLocal are internalTrafficPolicy and
	// externalTrafficPolicy Local: only this node's endpoints serve that
	// traffic, and external traffic keeps its source address.
	InternalLocal, ExternalLocal bool
	Ports                        []Port
}

// Port is one Service port with the endpoints traffic to it goes to.
type Port struct {
	Name     string
	Protocol string // tcp, udp or sctp, as nft spells them
	Port     int32
	NodePort int32
	// Endpoints are sorted and unique; none means connections are refused.
	Endpoints []Endpoint
}

// Endpoint is one backend address.
type Endpoint struct {
	IP   netip.Addr
	Port int32
	Node string // nodeName of the endpoint, "" if unknown
}

// Override replaces the endpoints of one Service port, keyed by
// namespace/name/protocol/port (protocol lowercase): the node's own DNS
// listener stands behind kube-system/kube-dns on every node this way.
type Override map[string][]Endpoint

// OverrideKey is the key of a Service port in an Override.
func OverrideKey(namespace, name, protocol string, port int32) string {
	return namespace + "/" + name + "/" + strings.ToLower(protocol) + "/" + itoa(port)
}

// defaultAffinity is upstream's default sessionAffinityConfig timeout (3 h).
const defaultAffinity = 10800 * time.Second

// BuildModel joins Services with their EndpointSlices into what the proxy
// renders, as kube-proxy does: ready endpoints, or when none is ready the
// serving-and-terminating ones (so a rolling update drains instead of
// refusing). Headless and ExternalName Services and non-IPv4 addresses are
// left out (berth's pod network is IPv4).
func BuildModel(svcs []*corev1.Service, eps []*discoveryv1.EndpointSlice, over Override) []Service {
	byService := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range eps {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		k := s.Namespace + "/" + name
		byService[k] = append(byService[k], s)
	}
	var out []Service
	for _, svc := range svcs {
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !ip.Is4() {
			continue // headless ("None"), ExternalName (""), or IPv6
		}
		m := Service{Namespace: svc.Namespace, Name: svc.Name, ClusterIP: ip}
		for _, s := range svc.Spec.ExternalIPs {
			if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
				m.ExternalIPs = append(m.ExternalIPs, a)
			}
		}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil && a.Is4() && !slices.Contains(m.ExternalIPs, a) {
				m.ExternalIPs = append(m.ExternalIPs, a)
			}
		}
		slices.SortFunc(m.ExternalIPs, netip.Addr.Compare)
		if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			m.Affinity = defaultAffinity
			if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
				m.Affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
			}
		}
		m.InternalLocal = svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
		m.ExternalLocal = svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
		nodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
		for _, sp := range svc.Spec.Ports {
			proto := strings.ToLower(string(cmp.Or(sp.Protocol, corev1.ProtocolTCP)))
			p := Port{Name: sp.Name, Protocol: proto, Port: sp.Port}
			if nodePorts {
				p.NodePort = sp.NodePort
			}
			if o, ok := over[OverrideKey(svc.Namespace, svc.Name, proto, sp.Port)]; ok {
				p.Endpoints = o
			} else {
				p.Endpoints = endpointsFor(byService[svc.Namespace+"/"+svc.Name], sp.Name, cmp.Or(sp.Protocol, corev1.ProtocolTCP))
			}
			m.Ports = append(m.Ports, p)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// endpointsFor picks the endpoints of one Service port from its slices;
// slice ports match Service ports by name and protocol.
func endpointsFor(ss []*discoveryv1.EndpointSlice, name string, proto corev1.Protocol) []Endpoint {
	var ready, draining []Endpoint
	for _, s := range ss {
		var port int32
		for _, p := range s.Ports {
			if derefOr(p.Name, "") == name && derefOr(p.Protocol, corev1.ProtocolTCP) == proto && p.Port != nil {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			a, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || !a.Is4() {
				continue
			}
			ep := Endpoint{IP: a, Port: port, Node: derefOr(e.NodeName, "")}
			switch {
			case derefOr(e.Conditions.Ready, true):
				ready = append(ready, ep)
			case derefOr(e.Conditions.Serving, false) && derefOr(e.Conditions.Terminating, false):
				draining = append(draining, ep)
			}
		}
	}
	if len(ready) == 0 {
		ready = draining
	}
	slices.SortFunc(ready, func(a, b Endpoint) int {
		return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Node, b.Node))
	})
	return slices.Compact(ready)
}

// derefOr follows the EndpointSlice API's rule that a nil condition means
// its default (ready: true).
func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
