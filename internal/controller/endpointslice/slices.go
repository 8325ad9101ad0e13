package endpointslice

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth-dev/berth/internal/controller/endpoints/podsvc"
)

const (
	// ManagedBy is the value of discoveryv1.LabelManagedBy on the slices this
	// controller owns; kube-proxy style consumers and kubectl read it.
	ManagedBy = "endpointslice-controller.k8s.io"
	// MaxEndpointsPerSlice is upstream's default --max-endpoints-per-slice.
	MaxEndpointsPerSlice = 100
	headlessLabel        = "service.kubernetes.io/headless"
)

// group is the endpoints of one address type that serve one set of ports.
type group struct {
	addrType  discoveryv1.AddressType
	ports     []discoveryv1.EndpointPort
	endpoints []discoveryv1.Endpoint
}

func (g *group) key() string { return string(g.addrType) + "|" + portsKey(g.ports) }

func portsKey(ps []discoveryv1.EndpointPort) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s/%s/%05d", deref(p.Name), deref(p.Protocol), deref(p.Port)))
	}
	return strings.Join(parts, ";")
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// desiredGroups turns the pods svc selects into endpoints grouped by
// address type and resolved ports, the way upstream's endpointslice
// reconciler does: terminating pods stay (ready=false, serving from the
// Ready condition, terminating=true) so proxies can drain them;
// publishNotReadyAddresses makes every endpoint ready.
func desiredGroups(svc *corev1.Service, pods []*corev1.Pod) []*group {
	byKey := map[string]*group{}
	for _, pod := range pods {
		if !podsvc.Included(pod, true) {
			continue
		}
		ip, err := netip.ParseAddr(pod.Status.PodIP)
		if err != nil {
			continue
		}
		at := discoveryv1.AddressTypeIPv4
		if ip.Is6() {
			at = discoveryv1.AddressTypeIPv6
		}
		var ports []discoveryv1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, err := podsvc.FindPort(pod, sp)
			if err != nil {
				continue
			}
			name, proto := sp.Name, sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &n, AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue // serves none of the Service's ports
		}
		sort.Slice(ports, func(i, j int) bool { return portsKey(ports[i:i+1]) < portsKey(ports[j:j+1]) })
		g := &group{addrType: at, ports: ports}
		if have, ok := byKey[g.key()]; ok {
			g = have
		} else {
			byKey[g.key()] = g
		}
		g.endpoints = append(g.endpoints, toEndpoint(svc, pod))
	}
	out := make([]*group, 0, len(byKey))
	for _, g := range byKey {
		sort.Slice(g.endpoints, func(i, j int) bool { return g.endpoints[i].Addresses[0] < g.endpoints[j].Addresses[0] })
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

func toEndpoint(svc *corev1.Service, pod *corev1.Pod) discoveryv1.Endpoint {
	serving := podsvc.IsReady(pod)
	terminating := pod.DeletionTimestamp != nil
	// A terminating endpoint is never ready unless the Service publishes
	// not-ready addresses (upstream keeps this for old consumers).
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  []string{pod.Status.PodIP},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		n := pod.Spec.NodeName
		ep.NodeName = &n
	}
	if h := podsvc.Hostname(pod, svc); h != "" {
		ep.Hostname = &h
	}
	return ep
}

// sliceLabels are the labels every slice of svc carries: the Service's own
// (minus the two the controller owns), the service name, the manager and
// the headless marker.
func sliceLabels(svc *corev1.Service) map[string]string {
	l := map[string]string{}
	for k, v := range svc.Labels {
		if k == discoveryv1.LabelServiceName || k == discoveryv1.LabelManagedBy || k == headlessLabel {
			continue
		}
		l[k] = v
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = ManagedBy
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[headlessLabel] = ""
	}
	return l
}

// plan is what one sync writes.
type plan struct {
	create, update, remove []*discoveryv1.EndpointSlice
}

// reconcile compares the desired groups with the slices that exist and
// returns the writes. Groups are cut into slices of at most max endpoints;
// existing slices of the same address type and ports are reused (in name
// order) before new ones are made, so a steady state writes nothing and a
// readiness flip rewrites one slice.
//
// A Service selecting no endpoint keeps one empty placeholder slice without
// ports, as upstream does, so consumers can tell "no endpoints" from "not
// synced yet".
func reconcile(svc *corev1.Service, groups []*group, existing []*discoveryv1.EndpointSlice, max int) plan {
	var p plan
	if len(groups) == 0 {
		groups = []*group{{addrType: discoveryv1.AddressTypeIPv4}}
	}
	byKey := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		k := string(s.AddressType) + "|" + portsKey(s.Ports)
		byKey[k] = append(byKey[k], s)
	}
	for _, ss := range byKey {
		sort.Slice(ss, func(i, j int) bool { return ss[i].Name < ss[j].Name })
	}
	labels := sliceLabels(svc)
	owner := metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))
	for _, g := range groups {
		reuse := byKey[g.key()]
		delete(byKey, g.key())
		for start := 0; start < len(g.endpoints) || start == 0; start += max {
			end := min(start+max, len(g.endpoints))
			want := &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: svc.Namespace, GenerateName: svc.Name + "-",
					Labels: labels, OwnerReferences: []metav1.OwnerReference{*owner},
				},
				AddressType: g.addrType,
				Ports:       g.ports,
				Endpoints:   g.endpoints[start:end],
			}
			if len(reuse) == 0 {
				p.create = append(p.create, want)
			} else {
				cur := reuse[0]
				reuse = reuse[1:]
				if !sameSlice(cur, want) {
					upd := cur.DeepCopy()
					upd.Labels, upd.OwnerReferences, upd.Ports, upd.Endpoints = want.Labels, want.OwnerReferences, want.Ports, want.Endpoints
					p.update = append(p.update, upd)
				}
			}
			if len(g.endpoints) == 0 {
				break
			}
		}
		p.remove = append(p.remove, reuse...)
	}
	var left []string
	for k := range byKey {
		left = append(left, k)
	}
	sort.Strings(left)
	for _, k := range left {
		p.remove = append(p.remove, byKey[k]...)
	}
	return p
}

func sameSlice(cur, want *discoveryv1.EndpointSlice) bool {
	return apiequality.Semantic.DeepEqual(cur.Labels, want.Labels) &&
		apiequality.Semantic.DeepEqual(cur.OwnerReferences, want.OwnerReferences) &&
		apiequality.Semantic.DeepEqual(cur.Ports, want.Ports) &&
		apiequality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints)
}
