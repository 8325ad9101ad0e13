package dns

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// ipIndex names the informer index from an IP to the Services (ClusterIPs)
// and EndpointSlices (endpoint addresses) that hold it, for PTR queries.
const ipIndex = "ip"

// ServiceIPIndexers are the indexers the Service informer needs.
var ServiceIPIndexers = cache.Indexers{ipIndex: func(obj any) ([]string, error) {
	s, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	var ips []string
	for _, ip := range s.Spec.ClusterIPs {
		if ip != corev1.ClusterIPNone {
			ips = append(ips, ip)
		}
	}
	return ips, nil
}}

// SliceIPIndexers are the indexers the EndpointSlice informer needs.
var SliceIPIndexers = cache.Indexers{ipIndex: func(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	var ips []string
	for _, e := range s.Endpoints {
		ips = append(ips, e.Addresses...)
	}
	return ips, nil
}}

// Store is the read side DNS answers from: the informers' listers and IP
// indexes.
type Store struct {
	Services    corelisters.ServiceLister
	Slices      discoverylisters.EndpointSliceLister
	ServiceByIP cache.Indexer // Service informer's indexer with ServiceIPIndexers
	SliceByIP   cache.Indexer // EndpointSlice informer's indexer with SliceIPIndexers
}

// endpoint is one address of a Service, named as CoreDNS names it: the
// pod's hostname when set, else its IP with dashes.
type endpoint struct {
	name  string
	ip    netip.Addr
	ports []discoveryv1.EndpointPort
}

func (s *Store) service(ns, name string) *corev1.Service {
	svc, err := s.Services.Services(ns).Get(name)
	if err != nil {
		return nil
	}
	return svc
}

// endpoints lists the ready addresses of a Service (publishNotReadyAddresses
// already makes every endpoint ready in its slices).
func (s *Store) endpoints(svc *corev1.Service) []endpoint {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name})
	ss, err := s.Slices.EndpointSlices(svc.Namespace).List(sel)
	if err != nil {
		return nil
	}
	var out []endpoint
	seen := map[netip.Addr]bool{}
	for _, sl := range ss {
		for _, e := range sl.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || seen[ip] {
					continue
				}
				seen[ip] = true
				out = append(out, endpoint{name: endpointName(e, ip), ip: ip, ports: sl.Ports})
			}
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int { return a.ip.Compare(b.ip) })
	return out
}

func endpointName(e discoveryv1.Endpoint, ip netip.Addr) string {
	if e.Hostname != nil && *e.Hostname != "" {
		return *e.Hostname
	}
	return dashed(ip)
}

// dashed is an IP written as one DNS label: 10.244.0.5 -> 10-244-0-5.
func dashed(ip netip.Addr) string {
	return strings.NewReplacer(".", "-", ":", "-").Replace(ip.String())
}

// undashed parses a dashed IPv4 label back.
func undashed(label string) (netip.Addr, bool) {
	parts := strings.Split(label, "-")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			return netip.Addr{}, false
		}
	}
	ip, err := netip.ParseAddr(strings.Join(parts, "."))
	return ip, err == nil && ip.Is4()
}

// reverse finds the name an IP has in the cluster: a ClusterIP names its
// Service; an endpoint address names the endpoint under its Service.
func (s *Store) reverse(ip netip.Addr, domain string) []string {
	var names []string
	if objs, err := s.ServiceByIP.ByIndex(ipIndex, ip.String()); err == nil {
		for _, o := range objs {
			svc := o.(*corev1.Service)
			names = append(names, svc.Name+"."+svc.Namespace+".svc."+domain+".")
		}
	}
	if objs, err := s.SliceByIP.ByIndex(ipIndex, ip.String()); err == nil {
		for _, o := range objs {
			sl := o.(*discoveryv1.EndpointSlice)
			svc := sl.Labels[discoveryv1.LabelServiceName]
			if svc == "" {
				continue
			}
			for _, e := range sl.Endpoints {
				if slices.Contains(e.Addresses, ip.String()) {
					n := endpointName(e, ip) + "." + svc + "." + sl.Namespace + ".svc." + domain + "."
					if !slices.Contains(names, n) {
						names = append(names, n)
					}
				}
			}
		}
	}
	slices.Sort(names)
	return names
}
