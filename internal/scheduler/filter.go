package scheduler

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
)

// The reasons are upstream's filter plugin messages, because users grep
// FailedScheduling events for them (pkg/scheduler/framework/plugins/*).
const (
	reasonUnschedulable = "node(s) were unschedulable"
	reasonAffinity      = "node(s) didn't match Pod's node affinity/selector"
	reasonHostPorts     = "node(s) didn't have free ports for the requested pod ports"
	reasonTooManyPods   = "Too many pods"
)

// nodeInfo is a node with the pods already bound to it.
type nodeInfo struct {
	node *corev1.Node
	pods []*corev1.Pod
}

// filter returns why pod cannot run on ni, or nil if it can. Each reason is
// one upstream filter message; a node can fail several resource checks.
func filter(pod *corev1.Pod, ni nodeInfo) []string {
	n := ni.node
	if n.Spec.Unschedulable && !tolerates(pod, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
		return []string{reasonUnschedulable}
	}
	if !nodeReady(n) {
		// Upstream's node lifecycle controller turns NotReady into this taint,
		// and the TaintToleration filter reports it.
		t := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}
		if !tolerates(pod, t) {
			return []string{untoleratedMessage(t)}
		}
	}
	for _, t := range n.Spec.Taints {
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerates(pod, t) {
			return []string{untoleratedMessage(t)}
		}
	}
	if !matchesNodeSelector(pod, n) {
		return []string{reasonAffinity}
	}
	if portsConflict(pod, ni.pods) {
		return []string{reasonHostPorts}
	}
	return insufficient(pod, ni)
}

func untoleratedMessage(t corev1.Taint) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func tolerates(pod *corev1.Pod, t corev1.Taint) bool {
	for i := range pod.Spec.Tolerations {
		if pod.Spec.Tolerations[i].ToleratesTaint(klog.Background(), &t, false) {
			return true
		}
	}
	return false
}

// matchesNodeSelector checks spec.nodeSelector and the required terms of
// node affinity (terms are ORed, requirements within a term ANDed).
func matchesNodeSelector(pod *corev1.Pod, n *corev1.Node) bool {
	if len(pod.Spec.NodeSelector) > 0 && !labels.SelectorFromSet(pod.Spec.NodeSelector).Matches(labels.Set(n.Labels)) {
		return false
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if termMatches(term, n) {
			return true
		}
	}
	return false
}

func termMatches(term corev1.NodeSelectorTerm, n *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false // an empty term matches nothing, as upstream
	}
	for _, r := range term.MatchExpressions {
		if !requirementMatches(r, n.Labels) {
			return false
		}
	}
	for _, r := range term.MatchFields {
		if r.Key != "metadata.name" || !requirementMatches(r, map[string]string{"metadata.name": n.Name}) {
			return false
		}
	}
	return true
}

func requirementMatches(r corev1.NodeSelectorRequirement, set map[string]string) bool {
	v, ok := set[r.Key]
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return ok && contains(r.Values, v)
	case corev1.NodeSelectorOpNotIn:
		return !ok || !contains(r.Values, v)
	case corev1.NodeSelectorOpExists:
		return ok
	case corev1.NodeSelectorOpDoesNotExist:
		return !ok
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !ok || len(r.Values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == corev1.NodeSelectorOpGt {
			return have > want
		}
		return have < want
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type hostPort struct {
	ip       string
	protocol corev1.Protocol
	port     int32
}

func hostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ip := p.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			out = append(out, hostPort{ip, proto, p.HostPort})
		}
	}
	return out
}

// portsConflict reports whether pod wants a host port that a bound pod
// holds; 0.0.0.0 conflicts with every address.
func portsConflict(pod *corev1.Pod, bound []*corev1.Pod) bool {
	want := hostPorts(pod)
	if len(want) == 0 {
		return false
	}
	for _, b := range bound {
		for _, h := range hostPorts(b) {
			for _, w := range want {
				if h.port == w.port && h.protocol == w.protocol && (h.ip == w.ip || h.ip == "0.0.0.0" || w.ip == "0.0.0.0") {
					return true
				}
			}
		}
	}
	return false
}

// podRequests is what the scheduler reserves for a pod: the larger of the
// app containers' sum and the largest init container, plus overhead
// (upstream's resource.PodRequests without sidecar handling).
func podRequests(pod *corev1.Pod) corev1.ResourceList {
	sum := corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		addList(sum, c.Resources.Requests)
	}
	for _, c := range pod.Spec.InitContainers {
		for name, q := range c.Resources.Requests {
			if cur, ok := sum[name]; !ok || q.Cmp(cur) > 0 {
				sum[name] = q.DeepCopy()
			}
		}
	}
	addList(sum, pod.Spec.Overhead)
	return sum
}

func addList(dst, src corev1.ResourceList) {
	for name, q := range src {
		cur := dst[name]
		cur.Add(q)
		dst[name] = cur
	}
}

// insufficient lists the resources ni lacks for pod ("Insufficient cpu").
func insufficient(pod *corev1.Pod, ni nodeInfo) []string {
	alloc := ni.node.Status.Allocatable
	var reasons []string
	if max, ok := alloc[corev1.ResourcePods]; ok && int64(len(ni.pods))+1 > max.Value() {
		reasons = append(reasons, reasonTooManyPods)
	}
	used := corev1.ResourceList{}
	for _, p := range ni.pods {
		addList(used, podRequests(p))
	}
	req := podRequests(pod)
	names := make([]string, 0, len(req))
	for name := range req {
		names = append(names, string(name))
	}
	sort.Strings(names)
	for _, name := range names {
		rn := corev1.ResourceName(name)
		q := req[rn]
		if q.IsZero() {
			continue
		}
		free, ok := alloc[rn]
		if !ok {
			free = resource.Quantity{}
		}
		free = free.DeepCopy()
		if u, ok := used[rn]; ok {
			free.Sub(u)
		}
		if q.Cmp(free) > 0 {
			reasons = append(reasons, "Insufficient "+name)
		}
	}
	return reasons
}

// fitErrorMessage is upstream's FitError text:
// "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable."
func fitErrorMessage(numNodes int, reasons map[string]int) string {
	if numNodes == 0 {
		return "no nodes available to schedule pods"
	}
	parts := make([]string, 0, len(reasons))
	for r, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", numNodes, strings.Join(parts, ", "))
}
