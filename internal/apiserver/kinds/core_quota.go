package kinds

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func resourceQuotaKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
		str("Limit", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
		ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		q := obj.(*corev1.ResourceQuota)
		return []interface{}{q.Name, quotaPairs(q.Status.Used, q.Status.Hard, false), quotaPairs(q.Status.Used, q.Status.Hard, true), age(q.CreationTimestamp)}
	}
	// Status belongs to the quota controller (upstream's strategy too).
	k.PrepareForCreate = func(obj runtime.Object) {
		q := obj.(*corev1.ResourceQuota)
		q.Status = corev1.ResourceQuotaStatus{}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		q := obj.(*corev1.ResourceQuota)
		var errs field.ErrorList
		p := field.NewPath("spec", "hard")
		for name, qty := range q.Spec.Hard {
			if qty.Sign() < 0 {
				errs = append(errs, field.Invalid(p.Key(string(name)), qty.String(), "must be greater than or equal to 0"))
			}
		}
		return errs
	}, nil)
}

// quotaPairs prints "name: used/hard" for the request (limits=false) or the
// limits.* (limits=true) resources, in name order, as kubectl's quota row.
func quotaPairs(used, hard corev1.ResourceList, limits bool) string {
	var parts []string
	for _, n := range sortedResourceNames(hard) {
		if strings.HasPrefix(n, "limits.") != limits {
			continue
		}
		u, h := used[corev1.ResourceName(n)], hard[corev1.ResourceName(n)]
		parts = append(parts, n+": "+u.String()+"/"+h.String())
	}
	return strings.Join(parts, ", ")
}

func sortedResourceNames(l corev1.ResourceList) []string {
	names := make([]string, 0, len(l))
	for n := range l {
		names = append(names, string(n))
	}
	sort.Strings(names)
	return names
}

func limitRangeKind(k *Kind) {
	defaultTable(k)
	// Upstream's SetDefaults_LimitRangeItem for Container items: the default
	// limit falls back to max, the default request to the default limit,
	// then to min.
	k.Default = func(obj runtime.Object) {
		for i := range obj.(*corev1.LimitRange).Spec.Limits {
			item := &obj.(*corev1.LimitRange).Spec.Limits[i]
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			if item.Default == nil {
				item.Default = corev1.ResourceList{}
			}
			if item.DefaultRequest == nil {
				item.DefaultRequest = corev1.ResourceList{}
			}
			fillMissing(item.Default, item.Max)
			fillMissing(item.DefaultRequest, item.Default)
			fillMissing(item.DefaultRequest, item.Min)
		}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		lr := obj.(*corev1.LimitRange)
		var errs field.ErrorList
		for i, item := range lr.Spec.Limits {
			p := field.NewPath("spec", "limits").Index(i)
			for name, min := range item.Min {
				if max, ok := item.Max[name]; ok && min.Cmp(max) > 0 {
					errs = append(errs, field.Invalid(p.Child("min").Key(string(name)), min.String(),
						"min value "+min.String()+" is greater than max value "+max.String()))
				}
			}
			for name, def := range item.Default {
				if max, ok := item.Max[name]; ok && def.Cmp(max) > 0 {
					errs = append(errs, field.Invalid(p.Child("default").Key(string(name)), def.String(),
						"default value "+def.String()+" is greater than max value "+max.String()))
				}
			}
		}
		return errs
	}, nil)
}

// fillMissing copies into dst the resources of src it lacks.
func fillMissing(dst, src corev1.ResourceList) {
	for n, q := range src {
		if _, ok := dst[n]; !ok {
			dst[n] = q.DeepCopy()
		}
	}
}
