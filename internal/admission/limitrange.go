package admission

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// limitRangerAnnotation records which defaults LimitRanger applied, as
// upstream's plugin does.
const limitRangerAnnotation = "kubernetes.io/limit-ranger"

// limitRanger is upstream's LimitRanger for pods
// (plugin/pkg/admission/limitranger): it fills container requests and limits
// from the namespace's LimitRanges, then refuses a pod outside their
// min/max/ratio bounds with 403.
func (p *Plugins) limitRanger(ctx context.Context, a *Attributes) error {
	items, err := p.cache.list(ctx, p.reader, coreKind("limitranges"), a.Namespace)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("list limitranges in %s: %w", a.Namespace, err))
	}
	if len(items) == 0 {
		return nil
	}
	pod := a.Object.(*corev1.Pod)
	var errs []error
	for _, obj := range items {
		lr := obj.(*corev1.LimitRange)
		applyLimitRangeDefaults(pod, lr)
		errs = append(errs, checkLimitRange(pod, lr)...)
	}
	if len(errs) > 0 {
		return forbidden(a, utilerrors.NewAggregate(errs))
	}
	return nil
}

// containerDefaults is a Container-type item's default limits and requests
// after upstream's LimitRangeItem defaulting: the default limit falls back
// to max, the default request to the default limit, then to min.
func containerDefaults(item corev1.LimitRangeItem) (limits, requests corev1.ResourceList) {
	limits, requests = corev1.ResourceList{}, corev1.ResourceList{}
	for n, q := range item.Default {
		limits[n] = q.DeepCopy()
	}
	for n, q := range item.Max {
		if _, ok := limits[n]; !ok {
			limits[n] = q.DeepCopy()
		}
	}
	for n, q := range item.DefaultRequest {
		requests[n] = q.DeepCopy()
	}
	for n, q := range limits {
		if _, ok := requests[n]; !ok {
			requests[n] = q.DeepCopy()
		}
	}
	for n, q := range item.Min {
		if _, ok := requests[n]; !ok {
			requests[n] = q.DeepCopy()
		}
	}
	return limits, requests
}

func applyLimitRangeDefaults(pod *corev1.Pod, lr *corev1.LimitRange) {
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		limits, requests := containerDefaults(item)
		var notes []string
		for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for i := range cs {
				c := &cs[i]
				set := fill(&c.Resources.Limits, limits, "limit")
				set = append(set, fill(&c.Resources.Requests, requests, "request")...)
				if len(set) > 0 {
					notes = append(notes, fmt.Sprintf("%s for container %s", strings.Join(set, ", "), c.Name))
				}
			}
		}
		if len(notes) > 0 {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[limitRangerAnnotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
		}
	}
}

// fill sets the resources of defaults missing from *list and says which.
func fill(list *corev1.ResourceList, defaults corev1.ResourceList, what string) []string {
	var set []string
	for _, n := range sortedNames(defaults) {
		if _, ok := (*list)[n]; ok {
			continue
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[n] = defaults[n].DeepCopy()
		set = append(set, fmt.Sprintf("%s %s", n, what))
	}
	return set
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// claimLimitRanger checks a PersistentVolumeClaim's storage request
// against the namespace's PersistentVolumeClaim limit items.
func (p *Plugins) claimLimitRanger(ctx context.Context, a *Attributes) error {
	items, err := p.cache.list(ctx, p.reader, coreKind("limitranges"), a.Namespace)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("list limitranges in %s: %w", a.Namespace, err))
	}
	pvc := a.Object.(*corev1.PersistentVolumeClaim)
	var errs []error
	for _, obj := range items {
		for _, item := range obj.(*corev1.LimitRange).Spec.Limits {
			if item.Type == corev1.LimitTypePersistentVolumeClaim {
				errs = append(errs, checkBounds(item, string(item.Type), pvc.Spec.Resources.Requests, nil)...)
			}
		}
	}
	if len(errs) > 0 {
		return forbidden(a, utilerrors.NewAggregate(errs))
	}
	return nil
}

// checkLimitRange checks the Container and Pod items with upstream's
// messages.
func checkLimitRange(pod *corev1.Pod, lr *corev1.LimitRange) []error {
	var errs []error
	for _, item := range lr.Spec.Limits {
		switch item.Type {
		case corev1.LimitTypeContainer:
			for _, c := range pod.Spec.Containers {
				errs = append(errs, checkBounds(item, string(item.Type), c.Resources.Requests, c.Resources.Limits)...)
			}
		case corev1.LimitTypePod:
			req, lim := podTotals(pod)
			errs = append(errs, checkBounds(item, string(item.Type), req, lim)...)
		}
	}
	return errs
}

// podTotals sums the containers' requests and limits, taking the larger of
// that and any one init container, as upstream's pod resource math does.
func podTotals(pod *corev1.Pod) (requests, limits corev1.ResourceList) {
	requests, limits = corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		addTo(requests, c.Resources.Requests)
		addTo(limits, c.Resources.Limits)
	}
	for _, c := range pod.Spec.InitContainers {
		maxInto(requests, c.Resources.Requests)
		maxInto(limits, c.Resources.Limits)
	}
	return requests, limits
}

func addTo(total, l corev1.ResourceList) {
	for n, q := range l {
		sum := total[n]
		sum.Add(q)
		total[n] = sum
	}
}

func maxInto(total, l corev1.ResourceList) {
	for n, q := range l {
		if cur, ok := total[n]; !ok || q.Cmp(cur) > 0 {
			total[n] = q.DeepCopy()
		}
	}
}

// checkBounds holds requests to min and limits to max (requests, when
// limits is nil), and their ratio to maxLimitRequestRatio.
func checkBounds(item corev1.LimitRangeItem, kind string, requests, limits corev1.ResourceList) []error {
	var errs []error
	for _, n := range sortedNames(item.Min) {
		min := item.Min[n]
		req, ok := requests[n]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", n, kind, min.String()))
		case req.Cmp(min) < 0:
			errs = append(errs, fmt.Errorf("minimum %s usage per %s is %s, but request is %s", n, kind, min.String(), req.String()))
		}
	}
	for _, n := range sortedNames(item.Max) {
		max := item.Max[n]
		if limits == nil {
			// Claims have no limits: their request is held to max.
			if req, ok := requests[n]; ok && req.Cmp(max) > 0 {
				errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s, but request is %s", n, kind, max.String(), req.String()))
			}
			continue
		}
		lim, ok := limits[n]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", n, kind, max.String()))
		case lim.Cmp(max) > 0:
			errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", n, kind, max.String(), lim.String()))
		}
	}
	for _, n := range sortedNames(item.MaxLimitRequestRatio) {
		ratio := item.MaxLimitRequestRatio[n]
		req, hasReq := requests[n]
		lim, hasLim := limits[n]
		if !hasReq || !hasLim || req.IsZero() {
			errs = append(errs, fmt.Errorf("%s max limit to request ratio per %s is %s, but no request or limit is specified", n, kind, ratio.String()))
			continue
		}
		got := float64(lim.MilliValue()) / float64(req.MilliValue())
		if got > float64(ratio.MilliValue())/1000 {
			errs = append(errs, fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", n, kind, ratio.String(), got))
		}
	}
	return errs
}
