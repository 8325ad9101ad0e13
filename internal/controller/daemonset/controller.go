// Package daemonset runs one pod of each DaemonSet on every eligible node
// (nodeSelector, required node affinity, taints against the pod's
// tolerations plus the defaults upstream adds), pinning each pod to its
// node with node affinity and letting the scheduler bind it, as upstream
// does. Updates roll out with RollingUpdate (maxUnavailable/maxSurge) or
// OnDelete, tracked by ControllerRevisions and the
// controller-revision-hash label.
//
// Semantics follow upstream's pkg/controller/daemon (daemon_controller.go,
// update.go).
package daemonset

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

const (
	fieldManager = "berth-daemonset"
	burst        = 250
	// templateGenerationLabel is the deprecated label upstream still sets.
	templateGenerationLabel = "pod-template-generation"
)

var kind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller syncs DaemonSets.
type Controller struct {
	client     kubernetes.Interface
	dsLister   appslisters.DaemonSetLister
	crLister   appslisters.ControllerRevisionLister
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	podControl ctrlutil.PodControl
	recorder   record.EventRecorder
	exp        *ctrlutil.Expectations
	queue      workqueue.TypedRateLimitingInterface[string]
	clock      clock.Clock
	log        *slog.Logger
	synced     []cache.InformerSynced
}

// New returns the DaemonSet controller registered with inf's informers.
func New(client kubernetes.Interface, inf informers.SharedInformerFactory, rec record.EventRecorder, log *slog.Logger) (*Controller, error) {
	apps, core := inf.Apps().V1(), inf.Core().V1()
	c := &Controller{
		client:     client,
		dsLister:   apps.DaemonSets().Lister(),
		crLister:   apps.ControllerRevisions().Lister(),
		podLister:  core.Pods().Lister(),
		nodeLister: core.Nodes().Lister(),
		podControl: ctrlutil.RealPodControl{Client: client, Recorder: rec, FieldManager: fieldManager},
		recorder:   rec,
		exp:        ctrlutil.NewExpectations(clock.RealClock{}),
		queue:      ctrlutil.NewQueue("daemonset"),
		clock:      clock.RealClock{},
		log:        log.With("component", "daemonset"),
	}
	if _, err := apps.DaemonSets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, ok := ctrlutil.KeyOf(obj); ok {
				c.exp.Delete(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch daemonsets: %w", err)
	}
	if _, err := core.Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.podChanged(obj, true, false) },
		UpdateFunc: func(old, cur any) {
			if old.(*corev1.Pod).ResourceVersion != cur.(*corev1.Pod).ResourceVersion {
				c.podChanged(cur, false, false)
			}
		},
		DeleteFunc: func(obj any) { c.podChanged(obj, false, true) },
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	// Any node change may change where daemons belong.
	if _, err := core.Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			if !apiequality.Semantic.DeepEqual(o.Labels, n.Labels) || !apiequality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) ||
				o.Spec.Unschedulable != n.Spec.Unschedulable {
				c.enqueueAll()
			}
		},
		DeleteFunc: func(any) { c.enqueueAll() },
	}); err != nil {
		return nil, fmt.Errorf("watch nodes: %w", err)
	}
	c.synced = []cache.InformerSynced{apps.DaemonSets().Informer().HasSynced, apps.ControllerRevisions().Informer().HasSynced,
		core.Pods().Informer().HasSynced, core.Nodes().Informer().HasSynced}
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

func (c *Controller) enqueueAll() {
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		c.enqueue(ds)
	}
}

func (c *Controller) podChanged(obj any, added, deleted bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key, uid, ok := ctrlutil.ControllerKey(pod, kind)
	if !ok {
		return
	}
	if ds, err := c.dsLister.DaemonSets(pod.Namespace).Get(metav1.GetControllerOfNoCopy(pod).Name); err != nil || ds.UID != uid {
		return
	}
	switch {
	case added && pod.DeletionTimestamp == nil:
		c.exp.CreationObserved(key)
	case deleted || pod.DeletionTimestamp != nil:
		c.exp.DeletionObserved(key, pod.UID)
	}
	c.queue.Add(key)
}

// nodeState is one node as the sync sees it.
type nodeState struct {
	node                      *corev1.Node
	shouldRun, shouldContinue bool
	pods                      []*corev1.Pod // live daemon pods for the node, oldest first
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	ds := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	all, err := c.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, ds, sel, all)
	if err != nil {
		return err
	}
	byNode := map[string][]*corev1.Pod{}
	hashes := map[string]bool{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		n := targetNode(p)
		byNode[n] = append(byNode[n], p)
		hashes[p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] = true
	}
	states := make([]nodeState, 0, len(nodes))
	known := map[string]bool{}
	for _, n := range nodes {
		known[n.Name] = true
		run, cont := nodeShouldRun(n, ds)
		ps := byNode[n.Name]
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].CreationTimestamp.Before(&ps[j].CreationTimestamp) })
		states = append(states, nodeState{node: n, shouldRun: run, shouldContinue: cont, pods: ps})
	}
	if ds.DeletionTimestamp != nil {
		return c.updateStatus(ctx, cached, ds, states, "")
	}
	rev, err := c.syncRevisions(ctx, ds, hashes)
	if err != nil {
		return err
	}
	hash := rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	var manageErr error
	if c.exp.Satisfied(key) {
		var orphans []*corev1.Pod
		for n, ps := range byNode {
			if !known[n] {
				for _, p := range ps {
					if p.Spec.NodeName == "" {
						orphans = append(orphans, p) // pinned to a node that's gone
					}
				}
			}
		}
		manageErr = c.manage(ctx, key, ds, states, orphans, hash)
	}
	if err := c.updateStatus(ctx, cached, ds, states, hash); err != nil {
		return err
	}
	return manageErr
}

func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	m := &ctrlutil.RefManager{
		Owner: ds, OwnerGVK: kind, Selector: sel,
		CanAdopt: ctrlutil.RecheckDeletion(ds, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		}),
		Patch: func(ctx context.Context, ns, name string, p []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: fieldManager})
			return err
		},
	}
	return ctrlutil.Claim(ctx, m, pods)
}

// fenceposts resolves maxSurge and maxUnavailable (both rounded up, as
// upstream's daemon util) against the number of nodes that want a daemon.
func fenceposts(ds *appsv1.DaemonSet, desired int) (surge, unavailable int) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	ms, mu := &zero, &one
	if ru != nil {
		if ru.MaxSurge != nil {
			ms = ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			mu = ru.MaxUnavailable
		}
	}
	surge, _ = intstr.GetScaledValueFromIntOrPercent(ms, desired, true)
	unavailable, _ = intstr.GetScaledValueFromIntOrPercent(mu, desired, true)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

func isRolling(ds *appsv1.DaemonSet) bool {
	return ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType || ds.Spec.UpdateStrategy.Type == ""
}

// plan is what manage decided: nodes to create a pod on, pods to delete.
type plan struct {
	create []string
	delete []*corev1.Pod
}

// decide is the pure part of manage: daemons where they belong, none
// where they don't, failed ones replaced, duplicates removed, and (for
// RollingUpdate) old pods replaced within maxUnavailable/maxSurge.
func decide(ds *appsv1.DaemonSet, states []nodeState, hash string, now time.Time) plan {
	var p plan
	surge, maxUnavail := 0, 0
	desired := 0
	for _, s := range states {
		if s.shouldRun {
			desired++
		}
	}
	if isRolling(ds) {
		surge, maxUnavail = fenceposts(ds, desired)
	}
	available := func(pod *corev1.Pod) bool { return ctrlutil.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now) }
	unavailable := 0
	var candidates []*corev1.Pod // old, available pods we may replace
	surging := 0
	for _, s := range states {
		if !s.shouldContinue {
			p.delete = append(p.delete, s.pods...)
			continue
		}
		var running, newPods, oldPods []*corev1.Pod
		for _, pod := range s.pods {
			if pod.Status.Phase == corev1.PodFailed {
				p.delete = append(p.delete, pod)
				continue
			}
			running = append(running, pod)
		}
		for _, pod := range running {
			if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
				newPods = append(newPods, pod)
			} else {
				oldPods = append(oldPods, pod)
			}
		}
		// Keep the oldest of each kind; a second kind only while surging.
		if len(newPods) > 1 {
			p.delete = append(p.delete, newPods[1:]...)
			newPods = newPods[:1]
		}
		if len(oldPods) > 1 {
			p.delete = append(p.delete, oldPods[1:]...)
			oldPods = oldPods[:1]
		}
		if !isRolling(ds) || !s.shouldRun {
			if len(newPods)+len(oldPods) > 1 {
				p.delete = append(p.delete, newPods...) // keep the old one (OnDelete)
				newPods = nil
			}
			if len(newPods)+len(oldPods) == 0 && s.shouldRun {
				p.create = append(p.create, s.node.Name)
			}
			continue
		}
		switch {
		case len(oldPods) == 0 && len(newPods) == 0:
			p.create = append(p.create, s.node.Name)
			unavailable++
		case len(oldPods) == 0:
			if !available(newPods[0]) {
				unavailable++
			}
		case len(newPods) > 0:
			// Surge in progress on this node: the old pod goes once the new one is available.
			if available(newPods[0]) {
				p.delete = append(p.delete, oldPods[0])
			} else {
				surging++
			}
		case !available(oldPods[0]):
			// Replacing an unavailable pod costs no availability.
			p.delete = append(p.delete, oldPods[0])
			unavailable++
		default:
			candidates = append(candidates, oldPods[0])
		}
	}
	if !isRolling(ds) {
		return p
	}
	if surge > 0 {
		for _, old := range candidates {
			if surging >= surge {
				break
			}
			p.create = append(p.create, targetNode(old))
			surging++
		}
		return p
	}
	for _, old := range candidates {
		if unavailable >= maxUnavail {
			break
		}
		p.delete = append(p.delete, old)
		unavailable++
	}
	return p
}

func (c *Controller) manage(ctx context.Context, key string, ds *appsv1.DaemonSet, states []nodeState, orphans []*corev1.Pod, hash string) error {
	p := decide(ds, states, hash, c.clock.Now())
	p.delete = append(p.delete, orphans...)
	if len(p.create) > burst {
		p.create = p.create[:burst]
	}
	for _, pod := range p.delete {
		if pod.Status.Phase == corev1.PodFailed {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, pod.Spec.NodeName)
		}
	}
	uids := make([]types.UID, len(p.delete))
	for i, pod := range p.delete {
		uids[i] = pod.UID
	}
	c.exp.Expect(key, len(p.create), uids)
	ref := ctrlutil.NewControllerRef(ds, kind)
	var mu sync.Mutex
	next := 0
	ok, createErr := ctrlutil.SlowStartBatch(len(p.create), ctrlutil.SlowStartInitialBatch, func() error {
		mu.Lock()
		node := p.create[next]
		next++
		mu.Unlock()
		_, err := c.podControl.CreatePod(ctx, ds.Namespace, &ds.Spec.Template, ds, ref, func(pod *corev1.Pod) {
			pod.GenerateName = ds.Name + "-"
			if pod.Labels == nil {
				pod.Labels = map[string]string{}
			}
			pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
			pod.Labels[templateGenerationLabel] = strconv.FormatInt(ds.Generation, 10)
			addDefaultTolerations(&pod.Spec)
			pinToNode(&pod.Spec, node)
		})
		if apierrors.IsTimeout(err) {
			return nil
		}
		return err
	})
	for i := ok; i < len(p.create); i++ {
		c.exp.CreationObserved(key)
	}
	var deleteErr error
	for _, pod := range p.delete {
		if err := c.podControl.DeletePod(ctx, pod.Namespace, pod.Name, pod.UID, ds); err != nil {
			c.exp.DeletionObserved(key, pod.UID)
			if !apierrors.IsNotFound(err) && deleteErr == nil {
				deleteErr = err
			}
		}
	}
	if createErr != nil {
		return createErr
	}
	return deleteErr
}

// calculateStatus counts nodes and pods the way `kubectl get ds` shows them.
func calculateStatus(ds *appsv1.DaemonSet, states []nodeState, hash string, now time.Time) appsv1.DaemonSetStatus {
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount, Conditions: ds.Status.Conditions}
	for _, s := range states {
		if !s.shouldRun {
			if len(s.pods) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(s.pods) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		pod := s.pods[0]
		for _, p := range s.pods {
			if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
				pod = p
				st.UpdatedNumberScheduled++
				break
			}
		}
		if ctrlutil.IsPodReady(pod) {
			st.NumberReady++
			if ctrlutil.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			}
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st
}

func (c *Controller) updateStatus(ctx context.Context, cached, ds *appsv1.DaemonSet, states []nodeState, hash string) error {
	st := calculateStatus(ds, states, hash, c.clock.Now())
	if hash == "" {
		st.UpdatedNumberScheduled = cached.Status.UpdatedNumberScheduled
	}
	if !apiequality.Semantic.DeepEqual(cached.Status, st) {
		ds.Status = st
		if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
		}
	}
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		c.queue.AddAfter(ds.Namespace+"/"+ds.Name, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}
