package kinds

import (
	"fmt"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// HorizontalPodAutoscalers, served as autoscaling/v2 (stored) and v1. The
// v1 view carries only the CPU utilization target, as upstream's
// pkg/apis/autoscaling/v1 conversion (which also keeps the rest in an
// annotation; berth drops it).

// defaultCPUUtilization is upstream's autoscaling.DefaultCPUUtilization.
const defaultCPUUtilization = 80

func hpaColumns() []metav1.TableColumnDefinition {
	sd, std := autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc(), autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{nameColumn, str("Reference", sd["scaleTargetRef"]), str("Targets", sd["metrics"]),
		str("MinPods", sd["minReplicas"]), str("MaxPods", sd["maxReplicas"]), str("Replicas", std["currentReplicas"]), ageColumn}
}

func hpaV2Kind(k *Kind) {
	k.Columns = hpaColumns()
	k.Row = func(obj runtime.Object) []interface{} { return hpaRow(obj.(*autoscalingv2.HorizontalPodAutoscaler)) }
	k.Default = func(obj runtime.Object) { defaultHPA(obj.(*autoscalingv2.HorizontalPodAutoscaler)) }
	k.PrepareForCreate = func(obj runtime.Object) {
		obj.(*autoscalingv2.HorizontalPodAutoscaler).Status = autoscalingv2.HorizontalPodAutoscalerStatus{}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		return validateHPA(obj.(*autoscalingv2.HorizontalPodAutoscaler))
	}, nil)
}

func hpaV1Kind(k *Kind) {
	k.Storage = autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler")
	k.ToStorage = func(obj runtime.Object) (runtime.Object, error) {
		return hpaV1ToV2(obj.(*autoscalingv1.HorizontalPodAutoscaler)), nil
	}
	k.FromStorage = func(obj runtime.Object) (runtime.Object, error) {
		return hpaV2ToV1(obj.(*autoscalingv2.HorizontalPodAutoscaler)), nil
	}
	k.Columns = hpaColumns()
	k.Row = func(obj runtime.Object) []interface{} {
		return hpaRow(hpaV1ToV2(obj.(*autoscalingv1.HorizontalPodAutoscaler)))
	}
	k.Default = func(obj runtime.Object) {
		h := obj.(*autoscalingv1.HorizontalPodAutoscaler)
		if h.Spec.MinReplicas == nil {
			h.Spec.MinReplicas = int32Ptr(1)
		}
	}
	k.PrepareForCreate = func(obj runtime.Object) {
		obj.(*autoscalingv1.HorizontalPodAutoscaler).Status = autoscalingv1.HorizontalPodAutoscalerStatus{}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		h := obj.(*autoscalingv1.HorizontalPodAutoscaler)
		errs := validateHPA(hpaV1ToV2(h))
		if t := h.Spec.TargetCPUUtilizationPercentage; t != nil && *t < 1 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "targetCPUUtilizationPercentage"), *t, "must be greater than 0"))
		}
		return errs
	}, nil)
}

func defaultHPA(h *autoscalingv2.HorizontalPodAutoscaler) {
	if h.Spec.MinReplicas == nil {
		h.Spec.MinReplicas = int32Ptr(1)
	}
	if len(h.Spec.Metrics) == 0 {
		h.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(defaultCPUUtilization)}
	}
	// A behavior given in part is completed with upstream's rules:
	// scale up by 4 pods or 100% per 15 s without stabilization, scale down
	// by 100% per 15 s (its window is left to the controller's 300 s).
	if b := h.Spec.Behavior; b != nil {
		maxPolicy := autoscalingv2.MaxChangePolicySelect
		b.ScaleUp = completeRules(b.ScaleUp, autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: int32Ptr(0), SelectPolicy: &maxPolicy,
			Policies: []autoscalingv2.HPAScalingPolicy{
				{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
				{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			}})
		b.ScaleDown = completeRules(b.ScaleDown, autoscalingv2.HPAScalingRules{
			SelectPolicy: &maxPolicy,
			Policies:     []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}})
	}
}

// completeRules is upstream's copyHPAScalingRules: the fields given win
// over the defaults.
func completeRules(given *autoscalingv2.HPAScalingRules, rules autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if given != nil {
		if given.SelectPolicy != nil {
			rules.SelectPolicy = given.SelectPolicy
		}
		if given.StabilizationWindowSeconds != nil {
			rules.StabilizationWindowSeconds = given.StabilizationWindowSeconds
		}
		if given.Policies != nil {
			rules.Policies = given.Policies
		}
		if given.Tolerance != nil {
			rules.Tolerance = given.Tolerance
		}
	}
	return &rules
}

func cpuUtilizationMetric(percent int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &percent},
		},
	}
}

func validateHPA(h *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	ref := spec.Child("scaleTargetRef")
	if h.Spec.ScaleTargetRef.Kind == "" {
		errs = append(errs, field.Required(ref.Child("kind"), ""))
	}
	if h.Spec.ScaleTargetRef.Name == "" {
		errs = append(errs, field.Required(ref.Child("name"), ""))
	}
	min := int32(1)
	if h.Spec.MinReplicas != nil {
		min = *h.Spec.MinReplicas
		if min < 1 {
			errs = append(errs, field.Invalid(spec.Child("minReplicas"), min, "must be greater than or equal to 1"))
		}
	}
	if h.Spec.MaxReplicas < min {
		errs = append(errs, field.Invalid(spec.Child("maxReplicas"), h.Spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	for i, m := range h.Spec.Metrics {
		mp := spec.Child("metrics").Index(i)
		// Each type needs its own source (the printer reads it too).
		var child string
		var missing bool
		switch m.Type {
		case autoscalingv2.ResourceMetricSourceType:
			child, missing = "resource", m.Resource == nil
		case autoscalingv2.PodsMetricSourceType:
			child, missing = "pods", m.Pods == nil
		case autoscalingv2.ObjectMetricSourceType:
			child, missing = "object", m.Object == nil
		case autoscalingv2.ExternalMetricSourceType:
			child, missing = "external", m.External == nil
		case autoscalingv2.ContainerResourceMetricSourceType:
			child, missing = "containerResource", m.ContainerResource == nil
		default:
			errs = append(errs, field.NotSupported(mp.Child("type"), m.Type, []string{"ContainerResource", "External", "Object", "Pods", "Resource"}))
			continue
		}
		if missing {
			errs = append(errs, field.Required(mp.Child(child), "must populate information for the given metric source"))
		}
	}
	return errs
}

func hpaV1ToV2(in *autoscalingv1.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
	out := &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: autoscalingv2.SchemeGroupVersion.String(), Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: in.ObjectMeta,
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{
				Kind: in.Spec.ScaleTargetRef.Kind, Name: in.Spec.ScaleTargetRef.Name, APIVersion: in.Spec.ScaleTargetRef.APIVersion},
			MinReplicas: in.Spec.MinReplicas,
			MaxReplicas: in.Spec.MaxReplicas,
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			ObservedGeneration: in.Status.ObservedGeneration,
			LastScaleTime:      in.Status.LastScaleTime,
			CurrentReplicas:    in.Status.CurrentReplicas,
			DesiredReplicas:    in.Status.DesiredReplicas,
		},
	}
	if t := in.Spec.TargetCPUUtilizationPercentage; t != nil {
		out.Spec.Metrics = []autoscalingv2.MetricSpec{cpuUtilizationMetric(*t)}
	}
	if c := in.Status.CurrentCPUUtilizationPercentage; c != nil {
		pct := *c
		out.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: &pct}},
		}}
	}
	return out
}

func hpaV2ToV1(in *autoscalingv2.HorizontalPodAutoscaler) *autoscalingv1.HorizontalPodAutoscaler {
	out := &autoscalingv1.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: autoscalingv1.SchemeGroupVersion.String(), Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: in.ObjectMeta,
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{
				Kind: in.Spec.ScaleTargetRef.Kind, Name: in.Spec.ScaleTargetRef.Name, APIVersion: in.Spec.ScaleTargetRef.APIVersion},
			MinReplicas: in.Spec.MinReplicas,
			MaxReplicas: in.Spec.MaxReplicas,
		},
		Status: autoscalingv1.HorizontalPodAutoscalerStatus{
			ObservedGeneration: in.Status.ObservedGeneration,
			LastScaleTime:      in.Status.LastScaleTime,
			CurrentReplicas:    in.Status.CurrentReplicas,
			DesiredReplicas:    in.Status.DesiredReplicas,
		},
	}
	for _, m := range in.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil {
			v := *m.Resource.Target.AverageUtilization
			out.Spec.TargetCPUUtilizationPercentage = &v
		}
	}
	for _, m := range in.Status.CurrentMetrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Current.AverageUtilization != nil {
			v := *m.Resource.Current.AverageUtilization
			out.Status.CurrentCPUUtilizationPercentage = &v
		}
	}
	return out
}

// hpaRow is upstream's printHorizontalPodAutoscaler.
func hpaRow(h *autoscalingv2.HorizontalPodAutoscaler) []interface{} {
	minPods := "<unset>"
	if h.Spec.MinReplicas != nil {
		minPods = fmt.Sprint(*h.Spec.MinReplicas)
	}
	return []interface{}{h.Name, h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name,
		hpaTargets(h.Spec.Metrics, h.Status.CurrentMetrics), minPods, int64(h.Spec.MaxReplicas),
		int64(h.Status.CurrentReplicas), age(h.CreationTimestamp)}
}

// hpaTargets is upstream's formatHPAMetrics: "current/target" per metric,
// at most two, then "+ N more...".
func hpaTargets(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	const max = 2
	var list []string
	status := func(i int) *autoscalingv2.MetricStatus {
		if i < len(statuses) {
			return &statuses[i]
		}
		return nil
	}
	for i, spec := range specs {
		st := status(i)
		current := "<unknown>"
		switch spec.Type {
		case autoscalingv2.ExternalMetricSourceType:
			if spec.External.Target.AverageValue != nil {
				if st != nil && st.External != nil && st.External.Current.AverageValue != nil {
					current = st.External.Current.AverageValue.String()
				}
				list = append(list, fmt.Sprintf("%s/%s (avg)", current, spec.External.Target.AverageValue.String()))
			} else {
				if st != nil && st.External != nil && st.External.Current.Value != nil {
					current = st.External.Current.Value.String()
				}
				list = append(list, fmt.Sprintf("%s/%s", current, quantityString(spec.External.Target.Value)))
			}
		case autoscalingv2.PodsMetricSourceType:
			if st != nil && st.Pods != nil && st.Pods.Current.AverageValue != nil {
				current = st.Pods.Current.AverageValue.String()
			}
			list = append(list, fmt.Sprintf("%s/%s", current, quantityString(spec.Pods.Target.AverageValue)))
		case autoscalingv2.ObjectMetricSourceType:
			if spec.Object.Target.AverageValue != nil {
				if st != nil && st.Object != nil && st.Object.Current.AverageValue != nil {
					current = st.Object.Current.AverageValue.String()
				}
				list = append(list, fmt.Sprintf("%s/%s (avg)", current, spec.Object.Target.AverageValue.String()))
			} else {
				if st != nil && st.Object != nil && st.Object.Current.Value != nil {
					current = st.Object.Current.Value.String()
				}
				list = append(list, fmt.Sprintf("%s/%s", current, quantityString(spec.Object.Target.Value)))
			}
		case autoscalingv2.ResourceMetricSourceType:
			list = append(list, resourceTarget(string(spec.Resource.Name), spec.Resource.Target, resourceCurrent(st)))
		case autoscalingv2.ContainerResourceMetricSourceType:
			var cur *autoscalingv2.MetricValueStatus
			if st != nil && st.ContainerResource != nil {
				cur = &st.ContainerResource.Current
			}
			list = append(list, resourceTarget(string(spec.ContainerResource.Name), spec.ContainerResource.Target, cur))
		default:
			list = append(list, "<unknown type>")
		}
	}
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ", "), len(list)-max)
	}
	return strings.Join(list, ", ")
}

func resourceCurrent(st *autoscalingv2.MetricStatus) *autoscalingv2.MetricValueStatus {
	if st == nil || st.Resource == nil {
		return nil
	}
	return &st.Resource.Current
}

func resourceTarget(name string, target autoscalingv2.MetricTarget, cur *autoscalingv2.MetricValueStatus) string {
	current := "<unknown>"
	if target.AverageValue != nil {
		if cur != nil && cur.AverageValue != nil {
			current = cur.AverageValue.String()
		}
		return fmt.Sprintf("%s: %s/%s", name, current, target.AverageValue.String())
	}
	if cur != nil && cur.AverageUtilization != nil {
		current = fmt.Sprintf("%d%%", *cur.AverageUtilization)
	}
	want := "<auto>"
	if target.AverageUtilization != nil {
		want = fmt.Sprintf("%d%%", *target.AverageUtilization)
	}
	return fmt.Sprintf("%s: %s/%s", name, current, want)
}

func quantityString(q *resource.Quantity) string {
	if q == nil {
		return "<nil>"
	}
	return q.String()
}
