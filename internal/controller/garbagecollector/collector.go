// Package garbagecollector deletes objects whose owners are gone and
// carries out Foreground and Orphan deletion, from the ownerReferences of
// every kind the API server serves (found through discovery, so kinds
// added later are covered).
//
// Semantics follow upstream's pkg/controller/garbagecollector
// (graph_builder.go, garbagecollector.go): Background — an object whose
// owners all vanished is deleted; Foreground — an owner carrying the
// foregroundDeletion finalizer gets its dependents deleted first, and the
// finalizer removed once no dependent with blockOwnerDeletion is left;
// Orphan — an owner carrying the orphan finalizer gets its ownerReference
// stripped from every dependent, then the finalizer removed. Everything is
// read through metadata-only informers.
package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

const fieldManager = "berth-garbagecollector"

// rediscoverEvery is how often new kinds (CRDs) are looked for.
const rediscoverEvery = 30 * time.Second

// ignored resources produce no ownership worth collecting and churn a lot.
var ignored = sets.New(
	schema.GroupResource{Group: "", Resource: "events"},
	schema.GroupResource{Group: "events.k8s.io", Resource: "events"},
)

// Collector is the garbage collector.
type Collector struct {
	md      metadata.Interface
	disco   discovery.DiscoveryInterface
	factory metadatainformer.SharedInformerFactory
	log     *slog.Logger
	graph   *graph

	mu       sync.RWMutex
	mapper   meta.RESTMapper
	watching map[schema.GroupVersionResource]cache.SharedIndexInformer

	toDelete workqueue.TypedRateLimitingInterface[types.UID]
	toOrphan workqueue.TypedRateLimitingInterface[types.UID]
}

// New returns a collector that discovers kinds with disco and watches them
// through factory (Run starts the informers it adds).
func New(md metadata.Interface, disco discovery.DiscoveryInterface, factory metadatainformer.SharedInformerFactory, log *slog.Logger) *Collector {
	newQ := func(name string) workqueue.TypedRateLimitingInterface[types.UID] {
		return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.UID](),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: name})
	}
	return &Collector{
		md: md, disco: disco, factory: factory,
		log:      log.With("component", "garbagecollector"),
		graph:    newGraph(),
		watching: map[schema.GroupVersionResource]cache.SharedIndexInformer{},
		toDelete: newQ("garbage_collector_attempt_to_delete"),
		toOrphan: newQ("garbage_collector_attempt_to_orphan"),
	}
}

// Sync discovers the served kinds and registers informers for the new
// ones; Run calls it at start and every 30s.
func (gc *Collector) Sync(ctx context.Context) error {
	groups, err := restmapper.GetAPIGroupResources(gc.disco)
	if err != nil && len(groups) == 0 {
		return fmt.Errorf("discover api resources: %w", err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	gc.mu.Lock()
	gc.mapper = mapper
	gc.mu.Unlock()
	for _, gvr := range deletableResources(groups) {
		gc.mu.RLock()
		_, ok := gc.watching[gvr]
		gc.mu.RUnlock()
		if ok {
			continue
		}
		inf := gc.factory.ForResource(gvr).Informer()
		if _, err := inf.AddEventHandler(gc.handler(gvr)); err != nil {
			return fmt.Errorf("watch %s: %w", gvr, err)
		}
		gc.mu.Lock()
		gc.watching[gvr] = inf
		gc.mu.Unlock()
		gc.log.Debug("watching", "resource", gvr.String())
	}
	return nil
}

// deletableResources lists the preferred version of every resource that
// supports list, watch and delete (upstream GetDeletableResources).
func deletableResources(groups []*restmapper.APIGroupResources) []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, g := range groups {
		v := g.Group.PreferredVersion.Version
		for _, r := range g.VersionedResources[v] {
			if strings.Contains(r.Name, "/") {
				continue
			}
			gr := schema.GroupResource{Group: g.Group.Name, Resource: r.Name}
			verbs := sets.New(r.Verbs...)
			if ignored.Has(gr) || !verbs.HasAll("list", "watch", "delete") {
				continue
			}
			out = append(out, gr.WithVersion(v))
		}
	}
	return out
}

func (gc *Collector) synced() bool {
	gc.mu.RLock()
	defer gc.mu.RUnlock()
	for _, inf := range gc.watching {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// Run discovers the served kinds, waits for the graph to fill, then runs
// workers until ctx is done, rediscovering kinds every 30s.
func (gc *Collector) Run(ctx context.Context, workers int) error {
	defer gc.toDelete.ShutDown()
	defer gc.toOrphan.ShutDown()
	gc.log.Info("starting")
	err := wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := gc.Sync(ctx); err != nil {
			gc.log.Warn("discovery failed, retrying", "err", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("initial discovery: %w", err)
	}
	gc.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), gc.synced) {
		return fmt.Errorf("wait for caches: %w", ctx.Err())
	}
	gc.log.Info("caches synced", "resources", len(gc.watching))
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := gc.Sync(ctx); err != nil {
			gc.log.Warn("rediscovery failed", "err", err)
		}
		gc.factory.Start(ctx.Done())
	}, rediscoverEvery)
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for gc.process(ctx, gc.toDelete, gc.attemptToDelete) {
			}
		}, time.Second)
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for gc.process(ctx, gc.toOrphan, gc.attemptToOrphan) {
			}
		}, time.Second)
	}
	<-ctx.Done()
	return nil
}

func (gc *Collector) process(ctx context.Context, q workqueue.TypedRateLimitingInterface[types.UID], fn func(context.Context, types.UID) error) bool {
	uid, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(uid)
	if err := fn(ctx, uid); err != nil {
		gc.log.Error("sync failed, will retry", "uid", uid, "err", err)
		q.AddRateLimited(uid)
		return true
	}
	q.Forget(uid)
	return true
}

func (gc *Collector) handler(gvr schema.GroupVersionResource) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { gc.observed(gvr, obj) },
		UpdateFunc: func(_, cur any) { gc.observed(gvr, cur) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if m, err := meta.Accessor(obj); err == nil {
				gc.deleted(m.GetUID())
			}
		},
	}
}

// observed updates the graph and queues the work the change calls for.
func (gc *Collector) observed(gvr schema.GroupVersionResource, obj any) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	prev, cur, existed := gc.graph.observe(gvr, m)
	if len(cur.owners) > 0 {
		// Its owners may already be gone (e.g. deleted while we were down).
		gc.toDelete.Add(cur.id.uid)
	}
	if existed {
		// An owner it stopped blocking may be waiting for it.
		for _, r := range prev.owners {
			if !cur.blocks(r.UID) {
				if o, ok := gc.graph.get(r.UID); ok && o.deletingDependents {
					gc.toDelete.Add(r.UID)
				}
			}
		}
	}
	if cur.orphaning {
		gc.toOrphan.Add(cur.id.uid)
	}
	if cur.deletingDependents {
		gc.toDelete.Add(cur.id.uid)
		for _, d := range gc.graph.dependentsOf(cur.id.uid) {
			gc.toDelete.Add(d.id.uid)
		}
	}
}

func (gc *Collector) deleted(uid types.UID) {
	n, ok := gc.graph.remove(uid)
	if !ok {
		return
	}
	for _, d := range gc.graph.dependentsOf(uid) {
		gc.toDelete.Add(d.id.uid)
	}
	for _, r := range n.owners {
		if o, ok := gc.graph.get(r.UID); ok && o.deletingDependents {
			gc.toDelete.Add(r.UID)
		}
	}
}

// ownerState is how a dependent relates to one of its owners.
type ownerState int

const (
	solid    ownerState = iota // exists
	dangling                   // gone, or the name now belongs to another object
	waiting                    // being deleted in the foreground: dependents go first
)

// classify looks an owner up in the graph, and in the API server if the
// graph hasn't seen it (a kind we don't watch, or an event not yet seen).
func (gc *Collector) classify(ctx context.Context, dependent node, ref metav1.OwnerReference) (ownerState, error) {
	if o, ok := gc.graph.get(ref.UID); ok {
		if o.deletingDependents {
			return waiting, nil
		}
		return solid, nil
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return dangling, nil
	}
	gc.mu.RLock()
	mapper := gc.mapper
	gc.mu.RUnlock()
	mapping, err := mapper.RESTMapping(gv.WithKind(ref.Kind).GroupKind(), gv.Version)
	if err != nil {
		// Unknown kind: don't delete what we can't reason about.
		gc.log.Debug("owner kind not served", "kind", ref.Kind, "apiVersion", ref.APIVersion)
		return solid, nil
	}
	ns := ""
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if dependent.id.namespace == "" {
			return dangling, nil // a cluster-scoped object can't have a namespaced owner
		}
		ns = dependent.id.namespace
	}
	owner, err := gc.md.Resource(mapping.Resource).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return dangling, nil
	case err != nil:
		return solid, fmt.Errorf("get owner %s %s: %w", ref.Kind, ref.Name, err)
	case owner.UID != ref.UID:
		return dangling, nil
	case owner.DeletionTimestamp != nil && slices.Contains(owner.Finalizers, foregroundFinalizer):
		return waiting, nil
	}
	return solid, nil
}

// attemptToDelete decides about one object: finish its foreground
// deletion, drop references to vanished owners, or delete it when no
// owner is left.
func (gc *Collector) attemptToDelete(ctx context.Context, uid types.UID) error {
	n, ok := gc.graph.get(uid)
	if !ok {
		return nil
	}
	if n.deletingDependents {
		return gc.processDeletingDependents(ctx, n)
	}
	if n.deleting || len(n.owners) == 0 {
		return nil
	}
	var solids, danglings, waitings []metav1.OwnerReference
	for _, r := range n.owners {
		st, err := gc.classify(ctx, n, r)
		if err != nil {
			return err
		}
		switch st {
		case solid:
			solids = append(solids, r)
		case dangling:
			danglings = append(danglings, r)
		case waiting:
			waitings = append(waitings, r)
		}
	}
	if len(danglings) == 0 && len(waitings) == 0 {
		return nil
	}
	// Re-read before anything destructive: the graph may lag.
	cl := gc.md.Resource(n.id.gvr).Namespace(n.id.namespace)
	latest, err := cl.Get(ctx, n.id.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s/%s: %w", n.id.gvr.Resource, n.id.namespace, n.id.name, err)
	}
	if latest.UID != uid || latest.DeletionTimestamp != nil {
		return nil
	}
	switch {
	case len(solids) > 0:
		// Another owner keeps it alive: just drop the references to owners
		// that are gone or going.
		drop := sets.New[types.UID]()
		for _, r := range append(danglings, waitings...) {
			drop.Insert(r.UID)
		}
		var keep []metav1.OwnerReference
		for _, r := range latest.OwnerReferences {
			if !drop.Has(r.UID) {
				keep = append(keep, r)
			}
		}
		p, err := ctrlutil.OwnerRefsPatch(uid, keep)
		if err != nil {
			return err
		}
		if _, err := cl.Patch(ctx, n.id.name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("drop owner references of %s/%s: %w", n.id.namespace, n.id.name, err)
		}
		return nil
	case len(waitings) > 0 && len(gc.graph.dependentsOf(uid)) > 0:
		// Its owner waits for it and it has dependents of its own: delete it
		// in the foreground too, so the whole chain goes before the owner.
		return gc.delete(ctx, n, metav1.DeletePropagationForeground)
	}
	policy := metav1.DeletePropagationBackground
	switch {
	case slices.Contains(latest.Finalizers, orphanFinalizer):
		policy = metav1.DeletePropagationOrphan
	case slices.Contains(latest.Finalizers, foregroundFinalizer):
		policy = metav1.DeletePropagationForeground
	}
	gc.log.Debug("deleting object whose owners are gone", "resource", n.id.gvr.Resource, "namespace", n.id.namespace, "name", n.id.name, "propagation", policy)
	return gc.delete(ctx, n, policy)
}

func (gc *Collector) delete(ctx context.Context, n node, policy metav1.DeletionPropagation) error {
	uid := n.id.uid
	err := gc.md.Resource(n.id.gvr).Namespace(n.id.namespace).Delete(ctx, n.id.name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete %s %s/%s: %w", n.id.gvr.Resource, n.id.namespace, n.id.name, err)
	}
	return nil
}

// processDeletingDependents handles an owner in foreground deletion: it
// deletes the dependents and drops the finalizer once nothing blocks.
func (gc *Collector) processDeletingDependents(ctx context.Context, n node) error {
	var blocking int
	for _, d := range gc.graph.dependentsOf(n.id.uid) {
		if d.blocks(n.id.uid) {
			blocking++
		}
		if !d.deleting {
			gc.toDelete.Add(d.id.uid)
		}
	}
	if blocking > 0 {
		// Each dependent's deletion event wakes us again.
		return nil
	}
	return gc.removeFinalizer(ctx, n, foregroundFinalizer)
}

// attemptToOrphan strips the owner's reference from every dependent, then
// drops the orphan finalizer so the owner goes.
func (gc *Collector) attemptToOrphan(ctx context.Context, uid types.UID) error {
	n, ok := gc.graph.get(uid)
	if !ok || !n.orphaning {
		return nil
	}
	var errs []error
	for _, d := range gc.graph.dependentsOf(uid) {
		var keep []metav1.OwnerReference
		for _, r := range d.owners {
			if r.UID != uid {
				keep = append(keep, r)
			}
		}
		p, err := ctrlutil.OwnerRefsPatch(d.id.uid, keep)
		if err != nil {
			return err
		}
		_, err = gc.md.Resource(d.id.gvr).Namespace(d.id.namespace).Patch(ctx, d.id.name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: fieldManager})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
			errs = append(errs, fmt.Errorf("orphan %s/%s: %w", d.id.namespace, d.id.name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return gc.removeFinalizer(ctx, n, orphanFinalizer)
}

// removeFinalizer drops one finalizer with a merge patch guarded by the
// resourceVersion just read, so a concurrent finalizer change isn't lost.
func (gc *Collector) removeFinalizer(ctx context.Context, n node, finalizer string) error {
	cl := gc.md.Resource(n.id.gvr).Namespace(n.id.namespace)
	latest, err := cl.Get(ctx, n.id.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s/%s: %w", n.id.namespace, n.id.name, err)
	}
	if latest.UID != n.id.uid || !slices.Contains(latest.Finalizers, finalizer) {
		return nil
	}
	keep := slices.DeleteFunc(slices.Clone(latest.Finalizers), func(f string) bool { return f == finalizer })
	p, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"finalizers": keep, "resourceVersion": latest.ResourceVersion, "uid": latest.UID,
	}})
	if err != nil {
		return err
	}
	if _, err := cl.Patch(ctx, n.id.name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer %s from %s/%s: %w", finalizer, n.id.namespace, n.id.name, err)
	}
	gc.log.Debug("removed finalizer", "finalizer", finalizer, "namespace", n.id.namespace, "name", n.id.name)
	return nil
}
