// Package replicaset keeps the number of pods of each ReplicaSet and
// ReplicationController at spec.replicas, adopting matching orphans and
// releasing pods whose labels stopped matching, and reports status.
//
// Semantics follow upstream's pkg/controller/replicaset/replica_set.go:
// expectations gate each sync so the informer's lag can't cause
// over-creation, creation runs in slow-start batches, at most burstReplicas
// pods are created or deleted per sync.
package replicaset

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

const (
	fieldManager = "berth-replicaset"
	// burstReplicas caps the pods one sync creates or deletes.
	burstReplicas = 500
)

// Controller syncs ReplicaSets, or ReplicationControllers (NewForRC).
type Controller struct {
	client     kubernetes.Interface
	kind       kindAdapter
	podLister  corelisters.PodLister
	podControl ctrlutil.PodControl
	exp        *ctrlutil.Expectations
	queue      workqueue.TypedRateLimitingInterface[string]
	clock      clock.Clock
	log        *slog.Logger
	synced     []cache.InformerSynced
}

// New returns the ReplicaSet controller, registered with inf's informers.
func New(client kubernetes.Interface, inf informers.SharedInformerFactory, rec record.EventRecorder, log *slog.Logger) (*Controller, error) {
	return newController(client, rsAdapter{client, inf}, inf, rec, log.With("component", "replicaset"))
}

// NewForRC returns the ReplicationController controller.
func NewForRC(client kubernetes.Interface, inf informers.SharedInformerFactory, rec record.EventRecorder, log *slog.Logger) (*Controller, error) {
	return newController(client, rcAdapter{client, inf}, inf, rec, log.With("component", "replicationcontroller"))
}

func newController(client kubernetes.Interface, kind kindAdapter, inf informers.SharedInformerFactory, rec record.EventRecorder, log *slog.Logger) (*Controller, error) {
	c := &Controller{
		client:     client,
		kind:       kind,
		podLister:  inf.Core().V1().Pods().Lister(),
		podControl: ctrlutil.RealPodControl{Client: client, Recorder: rec, FieldManager: fieldManager},
		exp:        ctrlutil.NewExpectations(clock.RealClock{}),
		queue:      ctrlutil.NewQueue(kind.gvk().Kind),
		clock:      clock.RealClock{},
		log:        log,
	}
	ownerInf := kind.informer()
	podInf := inf.Core().V1().Pods().Informer()
	if _, err := ownerInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, ok := ctrlutil.KeyOf(obj); ok {
				c.exp.Delete(key)
				c.queue.Add(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch %s: %w", kind.gvk().Kind, err)
	}
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	c.synced = []cache.InformerSynced{ownerInf.HasSynced, podInf.HasSynced}
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

// ownerOf returns the key of the pod's controller if it is one of ours
// and still exists with the UID the reference names.
func (c *Controller) ownerOf(pod *corev1.Pod) (string, *appsv1.ReplicaSet) {
	key, uid, ok := ctrlutil.ControllerKey(pod, c.kind.gvk())
	if !ok {
		return "", nil
	}
	rs, err := c.kind.get(pod.Namespace, metav1.GetControllerOfNoCopy(pod).Name)
	if err != nil || rs.UID != uid {
		return "", nil
	}
	return key, rs
}

// enqueueMatching wakes every owner whose selector matches an orphan pod,
// so one of them adopts it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	all, err := c.kind.list(pod.Namespace)
	if err != nil {
		return
	}
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		c.queue.Add(rs.Namespace + "/" + rs.Name)
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// On a restart the informer can list a pod that is already being deleted.
		c.deletePod(pod)
		return
	}
	if metav1.GetControllerOfNoCopy(pod) != nil {
		if key, _ := c.ownerOf(pod); key != "" {
			c.exp.CreationObserved(key)
			c.queue.Add(key)
		}
		return
	}
	c.enqueueMatching(pod)
}

func (c *Controller) updatePod(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	// Periodic resyncs send updates with the same resourceVersion: nothing changed.
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return
	}
	labelsChanged := !apiequality.Semantic.DeepEqual(oldPod.Labels, curPod.Labels)
	if curPod.DeletionTimestamp != nil && oldPod.DeletionTimestamp == nil {
		// A pod being deleted no longer counts: let the owner replace it now
		// instead of after the grace period.
		c.deletePod(curPod)
		if labelsChanged {
			c.deletePod(oldPod)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(oldPod), metav1.GetControllerOfNoCopy(curPod)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if key, _ := c.ownerOf(oldPod); key != "" {
			c.queue.Add(key)
		}
	}
	if curRef != nil {
		key, rs := c.ownerOf(curPod)
		if key == "" {
			return
		}
		c.queue.Add(key)
		// Availability changes minReadySeconds after readiness without any
		// event; +1s against clock skew (kubernetes/kubernetes#39785).
		if !ctrlutil.IsPodReady(oldPod) && ctrlutil.IsPodReady(curPod) && rs.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || oldRef != nil {
		c.enqueueMatching(curPod)
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	key, _ := c.ownerOf(pod)
	if key == "" {
		return
	}
	c.exp.DeletionObserved(key, pod.UID)
	c.queue.Add(key)
}

// sync makes namespace/name's pods match its spec and writes its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	start := c.clock.Now()
	defer func() { c.log.Debug("synced", "key", key, "took", c.clock.Since(start)) }()
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, err := c.kind.get(ns, name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	satisfied := c.exp.Satisfied(key)
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// The API server validates selectors; a retry can't fix a bad one.
		c.log.Warn("invalid selector", "key", key, "err", err)
		return nil
	}
	all, err := c.podLister.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, rs, sel, ctrlutil.FilterActivePods(all))
	if err != nil {
		return err
	}
	var manageErr error
	if satisfied && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, key, rs, pods)
	}
	st := calculateStatus(rs, pods, manageErr, c.clock.Now())
	updated, err := c.updateStatus(ctx, rs, st)
	if err != nil {
		return err
	}
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == replicas(updated) && updated.Status.AvailableReplicas != replicas(updated) {
		c.queue.AddAfter(key, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, sel labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	m := &ctrlutil.RefManager{
		Owner:    rs,
		OwnerGVK: c.kind.gvk(),
		Selector: sel,
		CanAdopt: ctrlutil.RecheckDeletion(rs, func(ctx context.Context) (metav1.Object, error) {
			return c.kind.getFresh(ctx, rs.Namespace, rs.Name)
		}),
		Patch: func(ctx context.Context, ns, name string, p []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: fieldManager})
			return err
		},
	}
	return ctrlutil.Claim(ctx, m, pods)
}

// manageReplicas creates or deletes pods to reach spec.replicas.
func (c *Controller) manageReplicas(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	diff := len(pods) - int(replicas(rs))
	owner := c.kind.original(rs)
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.exp.ExpectCreations(key, n)
		ref := ctrlutil.NewControllerRef(rs, c.kind.gvk())
		c.log.Debug("too few replicas", "key", key, "need", replicas(rs), "creating", n)
		// Batches of 1, 2, 4...: if the first create fails (quota, a bad
		// template) we stop after one error instead of n.
		ok, err := ctrlutil.SlowStartBatch(n, ctrlutil.SlowStartInitialBatch, func() error {
			_, err := c.podControl.CreatePod(ctx, rs.Namespace, &rs.Spec.Template, owner, ref, nil)
			if apierrors.IsTimeout(err) {
				// The create may still happen; the informer will tell us, and
				// the expectation TTL covers the case where it doesn't.
				return nil
			}
			return err
		})
		for i := ok; i < n; i++ {
			c.exp.CreationObserved(key) // skipped or failed: don't wait for them
		}
		return err
	case diff > 0:
		n := min(diff, burstReplicas)
		victims := podsToDelete(pods, n, c.clock.Now())
		uids := make([]types.UID, len(victims))
		for i, p := range victims {
			uids[i] = p.UID
		}
		c.exp.ExpectDeletions(key, uids)
		c.log.Debug("too many replicas", "key", key, "need", replicas(rs), "deleting", n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, p := range victims {
			wg.Add(1)
			go func(p *corev1.Pod) {
				defer wg.Done()
				if err := c.podControl.DeletePod(ctx, p.Namespace, p.Name, p.UID, owner); err != nil {
					c.exp.DeletionObserved(key, p.UID)
					if !apierrors.IsNotFound(err) {
						errs <- err
					}
				}
			}(p)
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	return nil
}

func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, st appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if apiequality.Semantic.DeepEqual(rs.Status, st) && rs.Status.ObservedGeneration == rs.Generation {
		return rs, nil
	}
	cp := rs.DeepCopy()
	cp.Status = st
	cp.Status.ObservedGeneration = rs.Generation
	updated, err := c.kind.updateStatus(ctx, cp)
	if err != nil {
		return nil, fmt.Errorf("update status of %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return updated, nil
}
