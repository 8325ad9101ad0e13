// Package podgc deletes pods nobody else will: pods bound to nodes that no
// longer exist (so their owners recreate them elsewhere), pods being
// deleted that were never scheduled, and the oldest finished pods beyond
// a threshold. Semantics follow upstream's pkg/controller/podgc.
package podgc

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

const (
	fieldManager = "berth-podgc"
	// checkPeriod is how often the collector looks (upstream gcCheckPeriod).
	checkPeriod = 20 * time.Second
	// quarantine is how long a node must have been missing before its pods
	// go, so a node that is just (re)registering isn't mistaken for gone.
	quarantine = 40 * time.Second
	// DefaultTerminatedThreshold is upstream's --terminated-pod-gc-threshold.
	DefaultTerminatedThreshold = 12500
)

// Controller is the pod garbage collector.
type Controller struct {
	client     kubernetes.Interface
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	synced     []cache.InformerSynced
	threshold  int
	clock      clock.Clock
	log        *slog.Logger
	// missingSince remembers when a node name was first seen missing.
	missingSince map[string]time.Time
}

// New returns the pod GC; threshold is how many finished pods may stay.
func New(client kubernetes.Interface, inf informers.SharedInformerFactory, threshold int, log *slog.Logger) *Controller {
	core := inf.Core().V1()
	return &Controller{
		client:       client,
		podLister:    core.Pods().Lister(),
		nodeLister:   core.Nodes().Lister(),
		synced:       []cache.InformerSynced{core.Pods().Informer().HasSynced, core.Nodes().Informer().HasSynced},
		threshold:    threshold,
		clock:        clock.RealClock{},
		log:          log.With("component", "podgc"),
		missingSince: map[string]time.Time{},
	}
}

// Run collects every 20s until ctx is done. workers is ignored: one pass
// at a time is enough and keeps missingSince single-threaded.
func (c *Controller) Run(ctx context.Context, _ int) error {
	c.log.Info("starting")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("wait for caches: %w", ctx.Err())
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := c.collect(ctx); err != nil {
			c.log.Error("collect failed, will retry", "err", err)
		}
	}, checkPeriod)
	return nil
}

func (c *Controller) collect(ctx context.Context) error {
	pods, err := c.podLister.List(labels.Everything())
	if err != nil {
		return err
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	now := c.clock.Now()
	exists := map[string]bool{}
	for _, n := range nodes {
		exists[n.Name] = true
	}
	var errs []error
	for _, p := range orphaned(pods, exists) {
		if !c.nodeGone(ctx, p.Spec.NodeName, now) {
			continue
		}
		errs = append(errs, c.forceDelete(ctx, p, "PodGC: node no longer exists"))
	}
	for name := range c.missingSince {
		if exists[name] {
			delete(c.missingSince, name)
		}
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Spec.NodeName == "" {
			errs = append(errs, c.forceDelete(ctx, p, ""))
		}
	}
	for _, p := range excessTerminated(pods, c.threshold) {
		errs = append(errs, c.forceDelete(ctx, p, ""))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// orphaned returns pods bound to nodes not in exists.
func orphaned(pods []*corev1.Pod, exists map[string]bool) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Spec.NodeName != "" && !exists[p.Spec.NodeName] {
			out = append(out, p)
		}
	}
	return out
}

// excessTerminated returns the oldest finished pods beyond threshold.
func excessTerminated(pods []*corev1.Pod, threshold int) []*corev1.Pod {
	if threshold <= 0 {
		return nil
	}
	var done []*corev1.Pod
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			done = append(done, p)
		}
	}
	if len(done) <= threshold {
		return nil
	}
	sort.SliceStable(done, func(i, j int) bool { return done[i].CreationTimestamp.Before(&done[j].CreationTimestamp) })
	return done[:len(done)-threshold]
}

// nodeGone reports whether name has been missing for the quarantine
// period and the API server confirms it doesn't exist.
func (c *Controller) nodeGone(ctx context.Context, name string, now time.Time) bool {
	since, ok := c.missingSince[name]
	if !ok {
		c.missingSince[name] = now
		return false
	}
	if now.Sub(since) < quarantine {
		return false
	}
	_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

// forceDelete deletes p without grace. With a reason, a pod that hasn't
// finished is first marked Failed with a DisruptionTarget condition, as
// upstream does, so its owner (e.g. a Job) sees why it went.
func (c *Controller) forceDelete(ctx context.Context, p *corev1.Pod, reason string) error {
	if reason != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
		cp := p.DeepCopy()
		cp.Status.Phase = corev1.PodFailed
		cp.Status.Conditions = append(cp.Status.Conditions, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByPodGC",
			Message: reason, LastTransitionTime: metav1.NewTime(c.clock.Now()),
		})
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
			c.log.Warn("mark pod failed before deleting", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
	zero := int64(0)
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.log.Info("deleted pod", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName, "reason", reason)
	return nil
}
