package admission

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// ResourceQuota admission (upstream plugin/pkg/admission/resourcequota):
// a create is refused with 403 when it would take a namespace's usage of a
// resource past a quota's hard limit. Usage is computed from a fresh list
// at admission time, so it is right even before the quota controller has
// filled status.used, plus the creates admitted moments ago that the list
// may not show yet.

// pendingTTL bounds how long an admitted create counts as in flight: by
// then it is stored (and listed) or has failed.
const pendingTTL = 10 * time.Second

// quotaTracker serializes quota decisions per namespace and remembers
// admitted creates until storage shows them.
type quotaTracker struct {
	mu      sync.Mutex
	locks   map[string]*sync.Mutex
	pending map[types.UID]pendingCharge
}

type pendingCharge struct {
	namespace string
	resource  string // the kind's resource, e.g. "pods"
	obj       runtime.Object
	expires   time.Time
}

func (t *quotaTracker) lock(ns string) func() {
	t.mu.Lock()
	if t.locks == nil {
		t.locks = map[string]*sync.Mutex{}
		t.pending = map[types.UID]pendingCharge{}
	}
	l := t.locks[ns]
	if l == nil {
		l = &sync.Mutex{}
		t.locks[ns] = l
	}
	t.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// inFlight returns the pending objects of resource in ns that listed does
// not contain yet, dropping expired and stored ones.
func (t *quotaTracker) inFlight(ns, res string, listed map[types.UID]bool) []runtime.Object {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []runtime.Object
	for uid, c := range t.pending {
		switch {
		case time.Now().After(c.expires) || listed[uid]:
			delete(t.pending, uid)
		case c.namespace == ns && c.resource == res:
			out = append(out, c.obj)
		}
	}
	return out
}

func (t *quotaTracker) add(ns, res string, obj runtime.Object) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = map[types.UID]pendingCharge{}
	}
	uid := metaOf(obj).GetUID()
	t.pending[uid] = pendingCharge{namespace: ns, resource: res, obj: obj, expires: time.Now().Add(pendingTTL)}
}

func (t *quotaTracker) forget(uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, uid)
}

// resourceQuota checks a create against every quota of its namespace.
func (p *Plugins) resourceQuota(ctx context.Context, a *Attributes) error {
	if !a.Kind.Namespaced {
		return nil
	}
	var requested corev1.ResourceList
	switch {
	case a.Operation == Create:
		requested = usageOf(a.Kind, a.Object)
	case a.Operation == Update && (isCore(a.Kind, "services") || isCore(a.Kind, "persistentvolumeclaims")):
		// A Service changing type or a claim growing asks for the growth.
		requested = growth(usageOf(a.Kind, a.Object), usageOf(a.Kind, a.OldObject))
	}
	if len(requested) == 0 {
		return nil
	}
	items, err := p.cache.list(ctx, p.reader, coreKind("resourcequotas"), a.Namespace)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("list resourcequotas in %s: %w", a.Namespace, err))
	}
	var quotas []*corev1.ResourceQuota
	for _, obj := range items {
		if q := obj.(*corev1.ResourceQuota); quotaApplies(q, a.Object) {
			quotas = append(quotas, q)
		}
	}
	if len(quotas) == 0 {
		return nil
	}
	sort.Slice(quotas, func(i, j int) bool { return quotas[i].Name < quotas[j].Name })
	// Creates in one namespace that a quota covers are decided one at a
	// time, each seeing the ones before it as in flight.
	unlock := p.quota.lock(a.Namespace)
	defer unlock()
	var existing []runtime.Object // listed once, only if some quota needs it
	listed := false
	for _, q := range quotas {
		if err := mustSpecify(q, a.Object); err != nil {
			return forbidden(a, err)
		}
		names := tracked(q.Spec.Hard, requested)
		if len(names) == 0 {
			continue
		}
		if !listed {
			if existing, err = p.existing(ctx, a); err != nil {
				return err
			}
			listed = true
		}
		used := corev1.ResourceList{}
		for _, obj := range existing {
			if quotaApplies(q, obj) {
				addTo(used, usageOf(a.Kind, obj))
			}
		}
		var exceeded []corev1.ResourceName
		for _, n := range names {
			total := used[n].DeepCopy()
			total.Add(requested[n])
			if total.Cmp(q.Spec.Hard[n]) > 0 {
				exceeded = append(exceeded, n)
			}
		}
		if len(exceeded) > 0 {
			return forbidden(a, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
				q.Name, pretty(requested, exceeded), pretty(used, exceeded), pretty(q.Spec.Hard, exceeded)))
		}
	}
	if listed && a.Operation == Create {
		p.quota.add(a.Namespace, a.Kind.Resource, a.Object)
	}
	return nil
}

// existing lists the namespace's objects of a's kind plus in-flight creates.
func (p *Plugins) existing(ctx context.Context, a *Attributes) ([]runtime.Object, error) {
	objs, err := p.reader.List(ctx, a.Kind, a.Namespace)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("list %s in %s: %w", a.Kind.Resource, a.Namespace, err))
	}
	seen := map[types.UID]bool{}
	for _, o := range objs {
		seen[metaOf(o).GetUID()] = true
	}
	return append(objs, p.quota.inFlight(a.Namespace, a.Kind.Resource, seen)...), nil
}

// growth is what now uses beyond old, per resource.
func growth(now, old corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for n, q := range now {
		d := q.DeepCopy()
		d.Sub(old[n])
		if d.Sign() > 0 {
			out[n] = d
		}
	}
	return out
}

// tracked lists the resources hard limits that this request adds to.
func tracked(hard, requested corev1.ResourceList) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range sortedNames(hard) {
		if q, ok := requested[n]; ok && !q.IsZero() {
			out = append(out, n)
		}
	}
	return out
}

// pretty prints "name=value" pairs for names, as upstream's prettyPrint.
func pretty(l corev1.ResourceList, names []corev1.ResourceName) string {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		q := l[n]
		parts = append(parts, fmt.Sprintf("%s=%s", n, q.String()))
	}
	return strings.Join(parts, ",")
}

// legacyCounts are the object counts quota knows by a bare name.
var legacyCounts = map[string]corev1.ResourceName{
	"pods": corev1.ResourcePods, "services": corev1.ResourceServices, "configmaps": corev1.ResourceConfigMaps,
	"secrets": corev1.ResourceSecrets, "persistentvolumeclaims": corev1.ResourcePersistentVolumeClaims,
	"replicationcontrollers": corev1.ResourceReplicationControllers, "resourcequotas": corev1.ResourceQuotas,
}

// usageOf is what one object of kind k counts against quota.
func usageOf(k *kinds.Kind, obj runtime.Object) corev1.ResourceList {
	one := resource.MustParse("1")
	count := "count/" + k.Resource
	if k.GVK.Group != "" {
		count += "." + k.GVK.Group
	}
	u := corev1.ResourceList{corev1.ResourceName(count): one.DeepCopy()}
	if k.GVK.Group == "" {
		if n, ok := legacyCounts[k.Resource]; ok {
			u[n] = one.DeepCopy()
		}
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		if !podCounts(o) {
			return nil
		}
		req, lim := podTotals(o)
		for n, q := range req {
			u["requests."+n] = q.DeepCopy()
			if n == corev1.ResourceCPU || n == corev1.ResourceMemory || n == corev1.ResourceEphemeralStorage {
				u[n] = q.DeepCopy()
			}
		}
		for n, q := range lim {
			u["limits."+n] = q.DeepCopy()
		}
	case *corev1.Service:
		if o.Spec.Type == corev1.ServiceTypeLoadBalancer {
			u[corev1.ResourceServicesLoadBalancers] = one.DeepCopy()
		}
		if needsNodePorts(o) {
			u[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(int64(len(o.Spec.Ports)), resource.DecimalSI)
		}
	case *corev1.PersistentVolumeClaim:
		if q, ok := o.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			u[corev1.ResourceRequestsStorage] = q.DeepCopy()
		}
	}
	return u
}

// podCounts: terminal pods, and pods whose deletion grace has run out, no
// longer count (upstream's QuotaV1Pod).
func podCounts(pod *corev1.Pod) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if dt := pod.DeletionTimestamp; dt != nil && pod.DeletionGracePeriodSeconds != nil {
		return time.Now().Before(dt.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second))
	}
	return true
}

// quotaApplies evaluates a quota's scopes against an object. Scopes only
// select pods; a quota with a scope selector berth cannot evaluate
// (PriorityClass, CrossNamespacePodAffinity) is not enforced.
func quotaApplies(q *corev1.ResourceQuota, obj runtime.Object) bool {
	if len(q.Spec.Scopes) == 0 && q.Spec.ScopeSelector == nil {
		return true
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || q.Spec.ScopeSelector != nil {
		return false
	}
	for _, s := range q.Spec.Scopes {
		terminating := pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
		bestEffort := isBestEffort(pod)
		switch s {
		case corev1.ResourceQuotaScopeTerminating:
			if !terminating {
				return false
			}
		case corev1.ResourceQuotaScopeNotTerminating:
			if terminating {
				return false
			}
		case corev1.ResourceQuotaScopeBestEffort:
			if !bestEffort {
				return false
			}
		case corev1.ResourceQuotaScopeNotBestEffort:
			if bestEffort {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func isBestEffort(pod *corev1.Pod) bool {
	req, lim := podTotals(pod)
	for _, l := range []corev1.ResourceList{req, lim} {
		for n, q := range l {
			if (n == corev1.ResourceCPU || n == corev1.ResourceMemory) && !q.IsZero() {
				return false
			}
		}
	}
	return true
}

// computeResources are the pod resources a quota makes mandatory for every
// container once it limits them.
var computeResources = map[corev1.ResourceName]struct {
	limit bool
	name  corev1.ResourceName
}{
	corev1.ResourceCPU:            {false, corev1.ResourceCPU},
	corev1.ResourceMemory:         {false, corev1.ResourceMemory},
	corev1.ResourceRequestsCPU:    {false, corev1.ResourceCPU},
	corev1.ResourceRequestsMemory: {false, corev1.ResourceMemory},
	corev1.ResourceLimitsCPU:      {true, corev1.ResourceCPU},
	corev1.ResourceLimitsMemory:   {true, corev1.ResourceMemory},
}

// mustSpecify is upstream's "failed quota: q: must specify limits.cpu for:
// app; ..." for pods whose containers leave out a quota'd compute resource.
func mustSpecify(q *corev1.ResourceQuota, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	var missing []string
	for _, n := range sortedNames(q.Spec.Hard) {
		cr, ok := computeResources[n]
		if !ok {
			continue
		}
		var names []string
		for _, c := range pod.Spec.Containers {
			l := c.Resources.Requests
			if cr.limit {
				l = c.Resources.Limits
			}
			if _, ok := l[cr.name]; !ok {
				names = append(names, c.Name)
			}
		}
		if len(names) > 0 {
			missing = append(missing, fmt.Sprintf("%s for: %s", n, strings.Join(names, ",")))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("failed quota: %s: must specify %s", q.Name, strings.Join(missing, "; "))
}
