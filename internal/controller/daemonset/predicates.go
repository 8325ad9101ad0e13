package daemonset

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Taint keys of the default tolerations every DaemonSet pod gets
// (upstream pkg/controller/daemon/util AddOrUpdateDaemonPodTolerations):
// daemons keep running on nodes that are not ready or unreachable, and
// land on nodes under pressure or cordoned.
var defaultTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// hostNetworkToleration is added for pods on the host network, which
// don't need the pod network to be up.
var hostNetworkToleration = corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// addDefaultTolerations adds the default tolerations the pod lacks.
func addDefaultTolerations(spec *corev1.PodSpec) {
	want := append([]corev1.Toleration(nil), defaultTolerations...)
	if spec.HostNetwork {
		want = append(want, hostNetworkToleration)
	}
	for _, t := range want {
		found := false
		for _, have := range spec.Tolerations {
			if have.Key == t.Key && have.Effect == t.Effect && have.Operator == t.Operator {
				found = true
				break
			}
		}
		if !found {
			spec.Tolerations = append(spec.Tolerations, t)
		}
	}
}

// tolerates reports whether toleration t tolerates taint (upstream
// Toleration.ToleratesTaint).
func tolerates(t corev1.Toleration, taint corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case "", corev1.TolerationOpEqual:
		return t.Key != "" && t.Value == taint.Value
	case corev1.TolerationOpExists:
		return true
	}
	return false
}

func untolerated(tolerations []corev1.Toleration, taints []corev1.Taint, effects ...corev1.TaintEffect) bool {
	for _, taint := range taints {
		relevant := false
		for _, e := range effects {
			relevant = relevant || taint.Effect == e
		}
		if !relevant {
			continue
		}
		ok := false
		for _, t := range tolerations {
			if tolerates(t, taint) {
				ok = true
				break
			}
		}
		if !ok {
			return true
		}
	}
	return false
}

// matchesNodeSelectorTerms reports whether node matches any of the
// required terms (ORed; each term's expressions ANDed).
func matchesNodeSelectorTerms(node *corev1.Node, terms []corev1.NodeSelectorTerm) bool {
	for _, term := range terms {
		if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
			continue // an empty term matches nothing
		}
		if matchExprs(term.MatchExpressions, labels.Set(node.Labels)) &&
			matchExprs(term.MatchFields, labels.Set{"metadata.name": node.Name}) {
			return true
		}
	}
	return false
}

func matchExprs(exprs []corev1.NodeSelectorRequirement, set labels.Set) bool {
	for _, e := range exprs {
		var op selection.Operator
		switch e.Operator {
		case corev1.NodeSelectorOpIn:
			op = selection.In
		case corev1.NodeSelectorOpNotIn:
			op = selection.NotIn
		case corev1.NodeSelectorOpExists:
			op = selection.Exists
		case corev1.NodeSelectorOpDoesNotExist:
			op = selection.DoesNotExist
		case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
			v, ok := set[e.Key]
			if !ok || len(e.Values) != 1 {
				return false
			}
			have, err1 := strconv.ParseInt(v, 10, 64)
			want, err2 := strconv.ParseInt(e.Values[0], 10, 64)
			if err1 != nil || err2 != nil || (e.Operator == corev1.NodeSelectorOpGt) != (have > want) || have == want {
				return false
			}
			continue
		default:
			return false
		}
		r, err := labels.NewRequirement(e.Key, op, e.Values)
		if err != nil || !r.Matches(set) {
			return false
		}
	}
	return true
}

// nodeShouldRun decides about node for ds: shouldRun — a new daemon pod
// belongs there; shouldContinue — an existing one may stay (only
// NoExecute taints evict). Upstream daemon_controller.go NodeShouldRunDaemonPod.
func nodeShouldRun(node *corev1.Node, ds *appsv1.DaemonSet) (shouldRun, shouldContinue bool) {
	spec := ds.Spec.Template.Spec.DeepCopy()
	addDefaultTolerations(spec)
	if len(spec.NodeSelector) > 0 && !labels.SelectorFromSet(spec.NodeSelector).Matches(labels.Set(node.Labels)) {
		return false, false
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		if !matchesNodeSelectorTerms(node, a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) {
			return false, false
		}
	}
	if untolerated(spec.Tolerations, node.Spec.Taints, corev1.TaintEffectNoExecute) {
		return false, false
	}
	if untolerated(spec.Tolerations, node.Spec.Taints, corev1.TaintEffectNoSchedule) {
		return false, true
	}
	return true, true
}

// pinToNode makes the pod schedulable only on nodeName, replacing any
// metadata.name matchFields of the template (upstream
// ReplaceDaemonSetPodNodeNameNodeAffinity): the scheduler then binds it.
func pinToNode(spec *corev1.PodSpec, nodeName string) {
	req := corev1.NodeSelectorRequirement{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{nodeName}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil || len(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req}}}}
		return
	}
	terms := na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		var fields []corev1.NodeSelectorRequirement
		for _, f := range terms[i].MatchFields {
			if f.Key != "metadata.name" {
				fields = append(fields, f)
			}
		}
		terms[i].MatchFields = append(fields, req)
	}
}

// targetNode is the node a daemon pod is for: where it is bound, or the
// node its affinity pins it to.
func targetNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}
