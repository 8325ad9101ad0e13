package endpoints

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/berth-dev/berth/internal/controller/endpoints/podsvc"
)

// desiredSubsets computes the Endpoints subsets of svc from the pods it
// selects, as upstream's endpoints controller does: ready pods (or every
// pod with publishNotReadyAddresses) go to addresses, the others to
// notReadyAddresses; each Service port resolves per pod, so pods exposing
// a named port under different numbers land in different subsets; a port
// that does not resolve on a pod leaves that pod out of that port. A
// headless Service without ports gets its addresses with no ports.
func desiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	publish := svc.Spec.PublishNotReadyAddresses
	var raw []corev1.EndpointSubset
	for _, pod := range pods {
		if !podsvc.Included(pod, publish) {
			continue
		}
		addr := corev1.EndpointAddress{
			IP:       pod.Status.PodIP,
			Hostname: podsvc.Hostname(pod, svc),
			TargetRef: &corev1.ObjectReference{
				Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			},
		}
		if pod.Spec.NodeName != "" {
			addr.NodeName = &pod.Spec.NodeName
		}
		ready := publish || podsvc.IsReady(pod)
		add := func(ports []corev1.EndpointPort) {
			s := corev1.EndpointSubset{Ports: ports}
			if ready {
				s.Addresses = []corev1.EndpointAddress{addr}
			} else {
				s.NotReadyAddresses = []corev1.EndpointAddress{addr}
			}
			raw = append(raw, s)
		}
		if len(svc.Spec.Ports) == 0 {
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				add(nil)
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, err := podsvc.FindPort(pod, sp)
			if err != nil {
				continue
			}
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			add([]corev1.EndpointPort{{Name: sp.Name, Port: n, Protocol: proto, AppProtocol: sp.AppProtocol}})
		}
	}
	return repack(raw)
}

// repack merges subsets into the canonical form upstream's RepackSubsets
// produces: one subset per distinct set of ports an address serves, ports
// and addresses sorted, so two computations of the same state compare equal.
func repack(raw []corev1.EndpointSubset) []corev1.EndpointSubset {
	type key struct {
		ip, ref string
		ready   bool
	}
	// Gather, per address, every port it serves.
	portsOf := map[key][]corev1.EndpointPort{}
	addrOf := map[key]corev1.EndpointAddress{}
	var order []key
	for _, s := range raw {
		for _, list := range []struct {
			addrs []corev1.EndpointAddress
			ready bool
		}{{s.Addresses, true}, {s.NotReadyAddresses, false}} {
			for _, a := range list.addrs {
				k := key{a.IP, refKey(a.TargetRef), list.ready}
				if _, ok := addrOf[k]; !ok {
					order = append(order, k)
					addrOf[k] = a
				}
				portsOf[k] = append(portsOf[k], s.Ports...)
			}
		}
	}
	bySet := map[string]*corev1.EndpointSubset{}
	var sets []string
	for _, k := range order {
		ports := portsOf[k]
		sort.Slice(ports, func(i, j int) bool { return portKey(ports[i]) < portKey(ports[j]) })
		sk := ""
		for _, p := range ports {
			sk += portKey(p) + ";"
		}
		s, ok := bySet[sk]
		if !ok {
			s = &corev1.EndpointSubset{Ports: ports}
			bySet[sk] = s
			sets = append(sets, sk)
		}
		if k.ready {
			s.Addresses = append(s.Addresses, addrOf[k])
		} else {
			s.NotReadyAddresses = append(s.NotReadyAddresses, addrOf[k])
		}
	}
	sort.Strings(sets)
	out := make([]corev1.EndpointSubset, 0, len(sets))
	for _, sk := range sets {
		s := bySet[sk]
		sortAddrs(s.Addresses)
		sortAddrs(s.NotReadyAddresses)
		out = append(out, *s)
	}
	return out
}

func refKey(r *corev1.ObjectReference) string {
	if r == nil {
		return ""
	}
	return string(r.UID)
}

func portKey(p corev1.EndpointPort) string {
	// Zero-padded so ports sort numerically inside a key.
	return fmt.Sprintf("%s/%s/%05d", p.Name, p.Protocol, p.Port)
}

func sortAddrs(a []corev1.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].IP != a[j].IP {
			return a[i].IP < a[j].IP
		}
		return refKey(a[i].TargetRef) < refKey(a[j].TargetRef)
	})
}
