package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// The PriorityClasses every cluster has (upstream's apiserver creates them;
// berth knows them without objects).
var systemPriorityClasses = map[string]int32{
	"system-node-critical":    2000001000,
	"system-cluster-critical": 2000000000,
}

// priority is upstream's Priority plugin: a pod's priority comes from its
// PriorityClass (or the global default one, or 0), never from the client.
func (p *Plugins) priority(ctx context.Context, a *Attributes) error {
	pod := a.Object.(*corev1.Pod)
	value, policy := int32(0), corev1.PreemptLowerPriority
	classKind := kinds.Lookup(schema.GroupVersionResource{Group: "scheduling.k8s.io", Version: "v1", Resource: "priorityclasses"})
	name := pod.Spec.PriorityClassName
	switch v, system := systemPriorityClasses[name]; {
	case system:
		value = v
	case name != "":
		obj, err := p.cache.get(ctx, p.reader, classKind, name)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("read priorityclass %s: %w", name, err))
		}
		if obj == nil {
			return forbidden(a, fmt.Errorf("no PriorityClass with name %s was found", name))
		}
		pc := obj.(*schedulingv1.PriorityClass)
		value = pc.Value
		if pc.PreemptionPolicy != nil {
			policy = *pc.PreemptionPolicy
		}
	default:
		classes, err := p.cache.list(ctx, p.reader, classKind, "")
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("list priorityclasses: %w", err))
		}
		for _, obj := range classes {
			if pc := obj.(*schedulingv1.PriorityClass); pc.GlobalDefault {
				pod.Spec.PriorityClassName, value = pc.Name, pc.Value
				if pc.PreemptionPolicy != nil {
					policy = *pc.PreemptionPolicy
				}
				break
			}
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return forbidden(a, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = &value
	if pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = &policy
	}
	return nil
}
