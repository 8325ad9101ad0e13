// Package resourcequota keeps ResourceQuota status current: status.hard
// mirrors spec.hard and status.used counts what the namespace uses for
// each tracked resource (object counts, count/<resource>.<group>, pod
// compute requests and limits, storage requests), honouring the
// Terminating/NotTerminating/BestEffort/NotBestEffort scopes. Admission
// enforces the quota; this controller recalculates usage when objects
// come and go (upstream pkg/controller/resourcequota), so freed quota
// becomes usable again.
package resourcequota

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

const (
	fieldManager = "berth-resourcequota"
	// resync recounts every quota now and then, for kinds without an informer here.
	resync = 30 * time.Second
)

// Controller keeps ResourceQuota status.used current.
type Controller struct {
	client  kubernetes.Interface
	md      metadata.Interface
	quotas  corelisters.ResourceQuotaLister
	pods    corelisters.PodLister
	queue   workqueue.TypedRateLimitingInterface[string]
	synced  []cache.InformerSynced
	log     *slog.Logger
	mapping func(resource string) (schema.GroupVersionResource, bool)
}

// New returns the controller. md lists objects of kinds counted by
// count/<resource>.<group>; resolve maps "deployments.apps" to a GVR
// (nil resolves only core kinds).
func New(client kubernetes.Interface, md metadata.Interface, inf informers.SharedInformerFactory, resolve func(string) (schema.GroupVersionResource, bool), log *slog.Logger) (*Controller, error) {
	core := inf.Core().V1()
	if resolve == nil {
		resolve = func(r string) (schema.GroupVersionResource, bool) {
			if strings.Contains(r, ".") {
				return schema.GroupVersionResource{}, false
			}
			return corev1.SchemeGroupVersion.WithResource(r), true
		}
	}
	c := &Controller{
		client: client, md: md,
		quotas:  core.ResourceQuotas().Lister(),
		pods:    core.Pods().Lister(),
		queue:   ctrlutil.NewQueue("resourcequota"),
		log:     log.With("component", "resourcequota"),
		mapping: resolve,
	}
	if _, err := core.ResourceQuotas().Informer().AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
	}, resync); err != nil {
		return nil, fmt.Errorf("watch resourcequotas: %w", err)
	}
	byNamespace := cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueNamespaceOf,
		UpdateFunc: func(_, cur any) { c.enqueueNamespaceOf(cur) },
		DeleteFunc: c.enqueueNamespaceOf,
	}
	c.synced = []cache.InformerSynced{core.ResourceQuotas().Informer().HasSynced}
	for _, inf := range []cache.SharedIndexInformer{core.Pods().Informer(), core.Services().Informer(),
		core.PersistentVolumeClaims().Informer(), core.ReplicationControllers().Informer()} {
		if _, err := inf.AddEventHandler(byNamespace); err != nil {
			return nil, fmt.Errorf("watch for quota: %w", err)
		}
		c.synced = append(c.synced, inf.HasSynced)
	}
	return c, nil
}

// Run syncs with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	w := ctrlutil.Worker{Queue: c.queue, Sync: c.sync, Log: c.log}
	return w.Run(ctx, workers, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	if key, ok := ctrlutil.KeyOf(obj); ok {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueNamespaceOf(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	qs, err := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range qs {
		c.enqueue(q)
	}
}

// DiscoveryResolver resolves "deployments.apps" (count/deployments.apps)
// to a served GroupVersionResource through discovery, cached.
func DiscoveryResolver(disco discovery.DiscoveryInterface) func(string) (schema.GroupVersionResource, bool) {
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	return func(r string) (schema.GroupVersionResource, bool) {
		res, group, _ := strings.Cut(r, ".")
		gvr, err := mapper.ResourceFor(schema.GroupVersionResource{Group: group, Resource: res})
		if err != nil {
			mapper.Reset() // maybe a kind added since: rediscover next time
			return schema.GroupVersionResource{}, false
		}
		return gvr, true
	}
}

// objectCounts maps the legacy count names to their resources.
var objectCounts = map[corev1.ResourceName]string{
	corev1.ResourceServices: "services", corev1.ResourceReplicationControllers: "replicationcontrollers",
	corev1.ResourceQuotas: "resourcequotas", corev1.ResourceSecrets: "secrets", corev1.ResourceConfigMaps: "configmaps",
	corev1.ResourcePersistentVolumeClaims: "persistentvolumeclaims",
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	q := cached.DeepCopy()
	pods, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	used := podUsage(pods, q.Spec.Scopes)
	counts := map[string]int64{}
	count := func(resource string) (int64, error) {
		if n, ok := counts[resource]; ok {
			return n, nil
		}
		gvr, ok := c.mapping(resource)
		if !ok {
			return 0, fmt.Errorf("unknown resource %q", resource)
		}
		l, err := c.md.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, fmt.Errorf("count %s: %w", resource, err)
		}
		counts[resource] = int64(len(l.Items))
		return counts[resource], nil
	}
	svcs, err := c.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	pvcs, err := c.client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list claims: %w", err)
	}
	st := corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{}}
	for r := range q.Spec.Hard {
		switch {
		case r == corev1.ResourcePods || r == "count/pods":
			st.Used[r] = used[corev1.ResourcePods]
		case objectCounts[r] != "":
			n, err := count(objectCounts[r])
			if err != nil {
				return err
			}
			st.Used[r] = *resource.NewQuantity(n, resource.DecimalSI)
		case strings.HasPrefix(string(r), "count/"):
			n, err := count(strings.TrimPrefix(string(r), "count/"))
			if err != nil {
				c.log.Debug("can't count", "resource", r, "err", err)
				continue
			}
			st.Used[r] = *resource.NewQuantity(n, resource.DecimalSI)
		case r == corev1.ResourceServicesNodePorts || r == corev1.ResourceServicesLoadBalancers:
			st.Used[r] = serviceUsage(svcs.Items)[r]
		case r == corev1.ResourceRequestsStorage || strings.HasSuffix(string(r), ".storageclass.storage.k8s.io/requests.storage"):
			st.Used[r] = storageUsage(pvcs.Items, r)
		default:
			if v, ok := used[r]; ok {
				st.Used[r] = v
			} else {
				st.Used[r] = resource.MustParse("0")
			}
		}
	}
	if apiequality.Semantic.DeepEqual(q.Status, st) {
		return nil
	}
	q.Status = st
	if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, q, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("update status of quota %s: %w", key, err)
	}
	return nil
}

// podUsage sums the pods' count and compute requests/limits over the
// pods the scopes select; finished pods use nothing.
func podUsage(pods []*corev1.Pod, scopes []corev1.ResourceQuotaScope) corev1.ResourceList {
	sum := map[corev1.ResourceName]*resource.Quantity{}
	add := func(name corev1.ResourceName, q resource.Quantity) {
		if cur, ok := sum[name]; ok {
			cur.Add(q)
			return
		}
		cp := q.DeepCopy()
		sum[name] = &cp
	}
	var n int64
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || !inScopes(p, scopes) {
			continue
		}
		n++
		req, lim := podRequestsLimits(p)
		for r, q := range req {
			add("requests."+r, q)
			if r == corev1.ResourceCPU || r == corev1.ResourceMemory || r == corev1.ResourceEphemeralStorage {
				add(r, q)
			}
		}
		for r, q := range lim {
			add("limits."+r, q)
		}
	}
	out := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(n, resource.DecimalSI)}
	for k, v := range sum {
		out[k] = *v
	}
	return out
}

// podRequestsLimits is the pod's effective requests and limits: the sum
// over app containers, or the largest init container if larger, plus overhead.
func podRequestsLimits(p *corev1.Pod) (corev1.ResourceList, corev1.ResourceList) {
	req, lim := corev1.ResourceList{}, corev1.ResourceList{}
	for _, ctr := range p.Spec.Containers {
		addList(req, ctr.Resources.Requests)
		addList(lim, ctr.Resources.Limits)
	}
	for _, ctr := range p.Spec.InitContainers {
		maxList(req, ctr.Resources.Requests)
		maxList(lim, ctr.Resources.Limits)
	}
	addList(req, p.Spec.Overhead)
	return req, lim
}

func addList(dst, src corev1.ResourceList) {
	for k, v := range src {
		cur := dst[k]
		cur.Add(v)
		dst[k] = cur
	}
}

func maxList(dst, src corev1.ResourceList) {
	for k, v := range src {
		if cur, ok := dst[k]; !ok || v.Cmp(cur) > 0 {
			dst[k] = v.DeepCopy()
		}
	}
}

func inScopes(p *corev1.Pod, scopes []corev1.ResourceQuotaScope) bool {
	for _, s := range scopes {
		terminating := p.Spec.ActiveDeadlineSeconds != nil
		req, lim := podRequestsLimits(p)
		bestEffort := len(req) == 0 && len(lim) == 0
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
		}
	}
	return true
}

func serviceUsage(svcs []corev1.Service) corev1.ResourceList {
	var nodePorts, lbs int64
	for _, s := range svcs {
		switch s.Spec.Type {
		case corev1.ServiceTypeNodePort:
			nodePorts += int64(len(s.Spec.Ports))
		case corev1.ServiceTypeLoadBalancer:
			lbs++
			nodePorts += int64(len(s.Spec.Ports))
		}
	}
	return corev1.ResourceList{
		corev1.ResourceServicesNodePorts:     *resource.NewQuantity(nodePorts, resource.DecimalSI),
		corev1.ResourceServicesLoadBalancers: *resource.NewQuantity(lbs, resource.DecimalSI),
	}
}

// storageUsage sums claims' storage requests, for one storage class when
// r is <class>.storageclass.storage.k8s.io/requests.storage.
func storageUsage(pvcs []corev1.PersistentVolumeClaim, r corev1.ResourceName) resource.Quantity {
	class, perClass := strings.CutSuffix(string(r), ".storageclass.storage.k8s.io/requests.storage")
	total := resource.MustParse("0")
	for _, c := range pvcs {
		if perClass && (c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != class) {
			continue
		}
		if q, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			total.Add(q)
		}
	}
	return total
}
