// Package deployment rolls Deployments out through ReplicaSets: one
// ReplicaSet per pod template (named <deployment>-<pod-template-hash>),
// RollingUpdate within maxSurge/maxUnavailable or Recreate, revision
// annotations that `kubectl rollout history|undo` read, proportional
// scaling mid-rollout, the Progressing/Available conditions and the
// revisionHistoryLimit cleanup.
//
// Semantics follow upstream's pkg/controller/deployment (deployment_controller.go,
// sync.go, rolling.go, recreate.go, progress.go, util/deployment_util.go).
// Rollback is kubectl's: `rollout undo` patches the template back, and
// findNewReplicaSet then reuses the old ReplicaSet with a new revision.
package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
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

const fieldManager = "berth-deployment"

var (
	kind   = appsv1.SchemeGroupVersion.WithKind("Deployment")
	rsKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
)

// Controller syncs Deployments.
type Controller struct {
	client    kubernetes.Interface
	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	recorder  record.EventRecorder
	queue     workqueue.TypedRateLimitingInterface[string]
	clock     clock.Clock
	log       *slog.Logger
	synced    []cache.InformerSynced
}

// New returns the Deployment controller registered with inf's informers.
func New(client kubernetes.Interface, inf informers.SharedInformerFactory, rec record.EventRecorder, log *slog.Logger) (*Controller, error) {
	apps := inf.Apps().V1()
	c := &Controller{
		client:    client,
		dLister:   apps.Deployments().Lister(),
		rsLister:  apps.ReplicaSets().Lister(),
		podLister: inf.Core().V1().Pods().Lister(),
		recorder:  rec,
		queue:     ctrlutil.NewQueue("deployment"),
		clock:     clock.RealClock{},
		log:       log.With("component", "deployment"),
	}
	if _, err := apps.Deployments().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("watch deployments: %w", err)
	}
	if _, err := apps.ReplicaSets().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.rsChanged,
		UpdateFunc: func(old, cur any) {
			if old.(*appsv1.ReplicaSet).ResourceVersion == cur.(*appsv1.ReplicaSet).ResourceVersion {
				return
			}
			if o, n := metav1.GetControllerOfNoCopy(old.(*appsv1.ReplicaSet)), metav1.GetControllerOfNoCopy(cur.(*appsv1.ReplicaSet)); o != nil && (n == nil || o.UID != n.UID) {
				c.rsChanged(old)
			}
			c.rsChanged(cur)
		},
		DeleteFunc: c.rsChanged,
	}); err != nil {
		return nil, fmt.Errorf("watch replicasets: %w", err)
	}
	// Recreate waits for old pods to be gone: wake the owner on pod deletion.
	if _, err := inf.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.podDeleted,
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	c.synced = []cache.InformerSynced{apps.Deployments().Informer().HasSynced, apps.ReplicaSets().Informer().HasSynced, inf.Core().V1().Pods().Informer().HasSynced}
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

func (c *Controller) rsChanged(obj any) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if rs, ok = tomb.Obj.(*appsv1.ReplicaSet); !ok {
			return
		}
	}
	if key, uid, ok := ctrlutil.ControllerKey(rs, kind); ok {
		if d, err := c.dLister.Deployments(rs.Namespace).Get(metav1.GetControllerOfNoCopy(rs).Name); err == nil && d.UID == uid {
			c.queue.Add(key)
		}
		return
	}
	// An orphan: wake every Deployment that may adopt it.
	ds, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, d := range ds {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) podDeleted(obj any) {
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
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != rsKind.Kind {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if key, _, ok := ctrlutil.ControllerKey(rs, kind); ok {
		if d, err := c.dLister.Deployments(rs.Namespace).Get(metav1.GetControllerOfNoCopy(rs).Name); err == nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
			c.queue.Add(key)
		}
	}
}

// sync brings one Deployment closer to its spec.
func (c *Controller) sync(ctx context.Context, key string) error {
	start := c.clock.Now()
	defer func() { c.log.Debug("synced", "key", key, "took", c.clock.Since(start)) }()
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		// An empty selector would match every pod in the namespace.
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			_, err := c.client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{FieldManager: fieldManager})
			return err
		}
		return nil
	}
	rss, err := c.claimReplicaSets(ctx, d, sel)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rss)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rss)
	}
	scaling, err := c.isScalingEvent(d, rss)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rss)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return c.rolloutRecreate(ctx, d, rss, sel)
	}
	return c.rolloutRolling(ctx, d, rss)
}

func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	m := &ctrlutil.RefManager{
		Owner:    d,
		OwnerGVK: kind,
		Selector: sel,
		CanAdopt: ctrlutil.RecheckDeletion(d, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		}),
		Patch: func(ctx context.Context, ns, name string, p []byte) error {
			_, err := c.client.AppsV1().ReplicaSets(ns).Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: fieldManager})
			return err
		},
	}
	return ctrlutil.Claim(ctx, m, all)
}

// isScalingEvent: some active ReplicaSet was sized for a different
// Deployment size than the current one (kubectl scale mid-rollout).
func (c *Controller) isScalingEvent(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) (bool, error) {
	newRS := findNewReplicaSet(d, rss)
	_, olds := findOldReplicaSets(d, rss)
	for _, rs := range filterActive(append(olds, newRS)) {
		if desired, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && desired != dReplicas(d) {
			return true, nil
		}
	}
	return false, nil
}

// checkPausedConditions records pause and resume in the Progressing
// condition, so the progress deadline doesn't count paused time.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := getCondition(d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == TimedOutReason {
		return nil
	}
	pausedExists := cond != nil && cond.Reason == PausedDeployReason
	now := c.clock.Now()
	switch {
	case d.Spec.Paused && !pausedExists:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, PausedDeployReason, "Deployment is paused", now))
	case !d.Spec.Paused && pausedExists:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, ResumedDeployReason, "Deployment is resumed", now))
	default:
		return nil
	}
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		return fmt.Errorf("update status of %s/%s: %w", d.Namespace, d.Name, err)
	}
	*d = *updated
	return nil
}

// requeueAt schedules another look at d when its progress deadline may pass.
func (c *Controller) requeueStuck(d *appsv1.Deployment, st appsv1.DeploymentStatus) {
	cond := getCondition(st, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || cond == nil || cond.Reason == NewRSAvailableReason || cond.Reason == TimedOutReason {
		return
	}
	if deploymentComplete(d, &st) {
		return
	}
	after := cond.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(c.clock.Now())
	key := d.Namespace + "/" + d.Name
	if after < time.Second {
		c.queue.AddRateLimited(key)
		return
	}
	// +1s so the deadline has certainly passed when we look again.
	c.queue.AddAfter(key, after+time.Second)
}
