// Package podsvc holds the pod-to-Service rules that the Endpoints and the
// EndpointSlice controllers share: which pods back a Service, whether an
// address counts as ready, how a targetPort resolves on one pod, and which
// Services a pod change wakes up.
//
// The rules mirror upstream's pkg/api/v1/pod FindPort, pkg/controller/util/
// endpoint ShouldPodBeInEndpoints / ShouldSetHostname and
// GetPodServiceMemberships; the code is berth's own.
package podsvc

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// Managed reports whether a controller keeps endpoints for svc: Services
// without a selector (the `kubernetes` Service, hand-made Endpoints) and
// ExternalName Services are left to whoever made their endpoints.
func Managed(svc *corev1.Service) bool {
	return svc.Spec.Selector != nil && svc.Spec.Type != corev1.ServiceTypeExternalName
}

// IsReady reports the pod's Ready condition.
func IsReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Included reports whether pod belongs in a Service's endpoints at all: it
// needs an IP and must not have finished; a pod being deleted stays only if
// includeTerminating (EndpointSlices always, Endpoints with
// publishNotReadyAddresses).
func Included(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.PodIP == "" {
		return false
	}
	if !includeTerminating && pod.DeletionTimestamp != nil {
		return false
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return false
	}
	return true
}

// Hostname is the DNS hostname the pod gets under svc (pod.spec.hostname
// when pod.spec.subdomain names the Service in the same namespace), or "".
func Hostname(pod *corev1.Pod, svc *corev1.Service) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// FindPort resolves a Service port's targetPort on one pod: a number is
// taken as is (0 means the Service port), a name must match a container
// port of the same protocol (regular containers, then sidecar init
// containers).
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, error) {
	tp := sp.TargetPort
	if tp.Type == intstr.Int {
		if tp.IntVal == 0 {
			return sp.Port, nil
		}
		return tp.IntVal, nil
	}
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	match := func(cs []corev1.Container, sidecarsOnly bool) (int32, bool) {
		for _, c := range cs {
			if sidecarsOnly && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range c.Ports {
				pp := p.Protocol
				if pp == "" {
					pp = corev1.ProtocolTCP
				}
				if p.Name == tp.StrVal && pp == proto {
					return p.ContainerPort, true
				}
			}
		}
		return 0, false
	}
	if n, ok := match(pod.Spec.Containers, false); ok {
		return n, nil
	}
	if n, ok := match(pod.Spec.InitContainers, true); ok {
		return n, nil
	}
	return 0, fmt.Errorf("pod %s/%s has no %s container port named %q", pod.Namespace, pod.Name, proto, tp.StrVal)
}

// Selects reports whether svc's selector matches pod (same namespace).
func Selects(svc *corev1.Service, pod *corev1.Pod) bool {
	if svc.Namespace != pod.Namespace || !Managed(svc) {
		return false
	}
	return labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels))
}

// ServicesFor returns the keys (namespace/name) of the managed Services in
// pod's namespace whose selector matches pod.
func ServicesFor(lister corelisters.ServiceLister, pod *corev1.Pod) ([]string, error) {
	svcs, err := lister.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list services in %s: %w", pod.Namespace, err)
	}
	var keys []string
	for _, s := range svcs {
		if Selects(s, pod) {
			keys = append(keys, s.Namespace+"/"+s.Name)
		}
	}
	return keys, nil
}

// Pods lists the pods svc selects.
func Pods(lister corelisters.PodLister, svc *corev1.Service) ([]*corev1.Pod, error) {
	sel := labels.SelectorFromValidatedSet(svc.Spec.Selector)
	pods, err := lister.Pods(svc.Namespace).List(sel)
	if err != nil {
		return nil, fmt.Errorf("list pods for service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return pods, nil
}

// ChangedPodKeys returns the Service keys to resync after a pod changed from
// old to cur (either may be nil for add/delete). A change matters when the
// pod's IP, readiness, deletion, labels, hostname or ports moved; a pure
// resync (same resourceVersion) wakes nothing.
func ChangedPodKeys(lister corelisters.ServiceLister, old, cur *corev1.Pod) ([]string, error) {
	if old != nil && cur != nil && old.ResourceVersion == cur.ResourceVersion {
		return nil, nil
	}
	seen := map[string]bool{}
	var keys []string
	for _, p := range []*corev1.Pod{old, cur} {
		if p == nil {
			continue
		}
		ks, err := ServicesFor(lister, p)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}
