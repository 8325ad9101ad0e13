// Package endpointslice is the EndpointSlice controller: for every Service
// with a selector it keeps discovery.k8s.io/v1 EndpointSlices (at most 100
// endpoints each) listing the selected pods with ready/serving/terminating
// conditions, labelled kubernetes.io/service-name and managed-by
// endpointslice-controller.k8s.io. It mirrors upstream's
// pkg/controller/endpointslice (without topology hints); the code is
// berth's own.
package endpointslice

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
	"github.com/berth-dev/berth/internal/controller/endpoints/podsvc"
)

const fieldManager = "berth-endpointslice"

// Controller syncs EndpointSlices from Services and pods.
type Controller struct {
	kube     kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	written  writeTracker
	log      *slog.Logger
}

// New registers the controller's handlers on the informers; start the
// informers' factory before Run.
func New(kube kubernetes.Interface, svcs coreinformers.ServiceInformer, pods coreinformers.PodInformer,
	slices discoveryinformers.EndpointSliceInformer, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		kube:     kube,
		services: svcs.Lister(),
		pods:     pods.Lister(),
		slices:   slices.Lister(),
		synced:   []cache.InformerSynced{svcs.Informer().HasSynced, pods.Informer().HasSynced, slices.Informer().HasSynced},
		queue:    ctrlutil.NewQueue("endpointslice"),
		written:  writeTracker{rv: map[string]map[string]uint64{}},
		log:      log,
	}
	if err := podsvc.Watch(c.queue, svcs, pods, log); err != nil {
		return nil, err
	}
	// Our own writes arriving (and anyone else's edits) resync the Service.
	if _, err := slices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.sliceChanged,
		UpdateFunc: func(_, cur any) { c.sliceChanged(cur) },
		DeleteFunc: c.sliceDeleted,
	}); err != nil {
		return nil, fmt.Errorf("watch endpointslices: %w", err)
	}
	return c, nil
}

func (c *Controller) sliceChanged(obj any) {
	if s, key := managedSlice(obj); s != nil {
		c.queue.Add(key)
	}
}

func (c *Controller) sliceDeleted(obj any) {
	if s, key := managedSlice(obj); s != nil {
		c.written.forget(key, s.Name)
		c.queue.Add(key)
	}
}

// managedSlice returns obj as one of our slices and its Service's key, or nil.
func managedSlice(obj any) (*discoveryv1.EndpointSlice, string) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels[discoveryv1.LabelServiceName] == "" {
		return nil, ""
	}
	return s, s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]
}

// Run waits for the caches, then runs workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	w := ctrlutil.Worker{Queue: c.queue, Sync: c.sync, Log: c.log}
	return w.Run(ctx, workers, c.synced...)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a malformed key will never sync
	}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ManagedBy})
	existing, err := c.slices.EndpointSlices(ns).List(sel)
	if err != nil {
		return fmt.Errorf("list endpointslices of %s: %w", key, err)
	}
	// The informer lags behind our own writes: acting on a cache that has not
	// seen them would create duplicate slices. The write's own watch event
	// requeues the Service.
	if c.written.stale(key, existing) {
		c.log.Debug("endpointslice cache behind our writes, waiting", "key", key)
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	var p plan
	switch {
	case apierrors.IsNotFound(err):
		p.remove = existing
	case err != nil:
		return fmt.Errorf("get service %s: %w", key, err)
	case !podsvc.Managed(svc):
		p.remove = existing
	default:
		pods, err := podsvc.Pods(c.pods, svc)
		if err != nil {
			return err
		}
		p = reconcile(svc, desiredGroups(svc, pods), existing, MaxEndpointsPerSlice)
	}
	return c.apply(ctx, key, p)
}

func (c *Controller) apply(ctx context.Context, key string, p plan) error {
	api := func(ns string) interface {
		Create(context.Context, *discoveryv1.EndpointSlice, metav1.CreateOptions) (*discoveryv1.EndpointSlice, error)
		Update(context.Context, *discoveryv1.EndpointSlice, metav1.UpdateOptions) (*discoveryv1.EndpointSlice, error)
		Delete(context.Context, string, metav1.DeleteOptions) error
	} {
		return c.kube.DiscoveryV1().EndpointSlices(ns)
	}
	// Creates and updates before deletes, so an endpoint moving between
	// slices is never missing from all of them.
	for _, s := range p.create {
		got, err := api(s.Namespace).Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager})
		if err != nil {
			return fmt.Errorf("create endpointslice for %s: %w", key, err)
		}
		c.written.record(key, got.Name, parseRV(got.ResourceVersion))
	}
	for _, s := range p.update {
		got, err := api(s.Namespace).Update(ctx, s, metav1.UpdateOptions{FieldManager: fieldManager})
		if err != nil {
			return fmt.Errorf("update endpointslice %s/%s: %w", s.Namespace, s.Name, err)
		}
		c.written.record(key, got.Name, parseRV(got.ResourceVersion))
	}
	for _, s := range p.remove {
		err := api(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpointslice %s/%s: %w", s.Namespace, s.Name, err)
		}
		c.written.record(key, s.Name, deleted)
	}
	return nil
}

// deleted marks a slice we removed in writeTracker.
const deleted = ^uint64(0)

// writeTracker remembers, per Service, the resourceVersion of each slice
// this controller last wrote (or that it deleted one), so sync can tell a
// cache that has not caught up yet. berth's resourceVersions are etcd
// revisions, so they compare as numbers.
type writeTracker struct {
	mu sync.Mutex
	rv map[string]map[string]uint64
}

func (w *writeTracker) record(key, name string, rv uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rv[key] == nil {
		w.rv[key] = map[string]uint64{}
	}
	w.rv[key][name] = rv
}

// parseRV reads a resourceVersion; one that is not a number (fake clients)
// reads as 0, which any listed slice satisfies.
func parseRV(rv string) uint64 {
	n, _ := strconv.ParseUint(rv, 10, 64)
	return n
}

// forget drops the record of a slice the informer saw deleted, whoever
// deleted it, so a slice removed behind our back cannot wedge its Service.
func (w *writeTracker) forget(key, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.rv[key], name)
}

// stale reports whether the listed slices miss a write of ours; once they
// show all of them, the Service's record is dropped.
func (w *writeTracker) stale(key string, listed []*discoveryv1.EndpointSlice) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	want := w.rv[key]
	if len(want) == 0 {
		return false
	}
	have := map[string]uint64{}
	for _, s := range listed {
		have[s.Name] = parseRV(s.ResourceVersion)
	}
	for name, rv := range want {
		got, ok := have[name]
		if rv == deleted {
			if ok {
				return true
			}
			continue
		}
		if !ok || got < rv {
			return true
		}
	}
	delete(w.rv, key)
	return false
}
