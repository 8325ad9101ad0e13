// Package nodelifecycle notices dead nodes and moves their work away, as
// upstream's pkg/controller/nodelifecycle and tainteviction do:
//
//   - a node whose kubelet stopped renewing its Lease (and posting status)
//     for the grace period gets its Ready condition set to Unknown
//     ("Kubelet stopped posting node status.") and its pods marked not ready;
//   - nodes get the node.kubernetes.io/not-ready or unreachable taints
//     (NoSchedule and NoExecute) from their Ready condition, and
//     unschedulable:NoSchedule when cordoned;
//   - pods on a node with NoExecute taints they don't tolerate are deleted,
//     right away or after their tolerationSeconds (300s by default), so
//     their owners recreate them elsewhere.
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

const (
	fieldManager = "berth-nodelifecycle"
	// monitorPeriod is how often node health is checked (upstream --node-monitor-period).
	monitorPeriod = 5 * time.Second
	// GracePeriod is how long a node may be silent before it is Unknown
	// (upstream --node-monitor-grace-period).
	GracePeriod    = 40 * time.Second
	leaseNamespace = corev1.NamespaceNodeLease
)

// Controller is the node lifecycle controller with taint-based eviction.
type Controller struct {
	client      kubernetes.Interface
	nodeLister  corelisters.NodeLister
	leaseLister coordlisters.LeaseLister
	podLister   corelisters.PodLister
	podIndexer  cache.Indexer
	recorder    record.EventRecorder
	evictions   workqueue.TypedRateLimitingInterface[string]
	synced      []cache.InformerSynced
	grace       time.Duration
	clock       clock.Clock
	log         *slog.Logger
}

const byNode = "nodeName"

// New returns the controller registered with inf's informers.
func New(client kubernetes.Interface, inf informers.SharedInformerFactory, rec record.EventRecorder, log *slog.Logger) (*Controller, error) {
	core := inf.Core().V1()
	podInf := core.Pods().Informer()
	if err := podInf.AddIndexers(cache.Indexers{byNode: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("index pods by node: %w", err)
	}
	c := &Controller{
		client:      client,
		nodeLister:  core.Nodes().Lister(),
		leaseLister: inf.Coordination().V1().Leases().Lister(),
		podLister:   core.Pods().Lister(),
		podIndexer:  podInf.GetIndexer(),
		recorder:    rec,
		evictions:   ctrlutil.NewQueue("noexec_taint_pod"),
		grace:       GracePeriod,
		clock:       clock.RealClock{},
		log:         log.With("component", "nodelifecycle"),
	}
	// A pod newly bound to a tainted node must be checked too.
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueuePod,
		UpdateFunc: func(old, cur any) {
			if old.(*corev1.Pod).Spec.NodeName != cur.(*corev1.Pod).Spec.NodeName {
				c.enqueuePod(cur)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	c.synced = []cache.InformerSynced{core.Nodes().Informer().HasSynced, podInf.HasSynced,
		inf.Coordination().V1().Leases().Informer().HasSynced}
	return c, nil
}

func (c *Controller) enqueuePod(obj any) {
	if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
		if key, ok := ctrlutil.KeyOf(p); ok {
			c.evictions.Add(key)
		}
	}
}

// Run monitors nodes every 5s and evicts with workers until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) error {
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := c.monitor(ctx); err != nil {
			c.log.Error("monitor nodes failed, will retry", "err", err)
		}
	}, monitorPeriod)
	w := ctrlutil.Worker{Queue: c.evictions, Sync: c.evict, Log: c.log}
	return w.Run(ctx, workers, c.synced...)
}

// lastHeartbeat is the later of the Lease renewal and the Ready
// condition's heartbeat.
func lastHeartbeat(n *corev1.Node, lease *coordinationv1.Lease) time.Time {
	var t time.Time
	if c := readyCondition(n); c != nil {
		t = c.LastHeartbeatTime.Time
	}
	if lease != nil && lease.Spec.RenewTime != nil && lease.Spec.RenewTime.After(t) {
		t = lease.Spec.RenewTime.Time
	}
	if t.IsZero() {
		t = n.CreationTimestamp.Time
	}
	return t
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// markUnknown sets the kubelet-owned conditions to Unknown, as upstream
// tryUpdateNodeHealth does when the kubelet went silent. It reports
// whether anything changed.
func markUnknown(n *corev1.Node, now time.Time) bool {
	changed := false
	ts := metav1.NewTime(now)
	for _, t := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		found := false
		for i := range n.Status.Conditions {
			c := &n.Status.Conditions[i]
			if c.Type != t {
				continue
			}
			found = true
			if c.Status != corev1.ConditionUnknown {
				c.Status, c.Reason, c.Message, c.LastTransitionTime = corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status.", ts
				changed = true
			}
		}
		if !found {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: t, Status: corev1.ConditionUnknown,
				Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.", LastHeartbeatTime: n.CreationTimestamp, LastTransitionTime: ts})
			changed = true
		}
	}
	return changed
}

// Taints this controller owns.
var managed = map[string]bool{corev1.TaintNodeNotReady: true, corev1.TaintNodeUnreachable: true, corev1.TaintNodeUnschedulable: true}

// desiredTaints returns n's taints with the managed ones set from its
// Ready condition and spec.unschedulable, keeping existing timeAdded.
func desiredTaints(n *corev1.Node, now time.Time) []corev1.Taint {
	want := map[corev1.Taint]bool{}
	if c := readyCondition(n); c != nil {
		switch c.Status {
		case corev1.ConditionFalse:
			want[corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}] = true
			want[corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}] = true
		case corev1.ConditionUnknown:
			want[corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}] = true
			want[corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}] = true
		}
	}
	if n.Spec.Unschedulable {
		want[corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}] = true
	}
	var out []corev1.Taint
	for _, t := range n.Spec.Taints {
		k := corev1.Taint{Key: t.Key, Effect: t.Effect}
		if !managed[t.Key] {
			out = append(out, t)
			continue
		}
		if want[k] {
			out = append(out, t)
			delete(want, k)
		}
	}
	ts := metav1.NewTime(now)
	for _, k := range []corev1.Taint{ // fixed order for stable updates
		{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule},
	} {
		if want[k] {
			t := k
			if t.Effect == corev1.TaintEffectNoExecute {
				t.TimeAdded = &ts
			}
			out = append(out, t)
		}
	}
	return out
}

func (c *Controller) monitor(ctx context.Context) error {
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	now := c.clock.Now()
	for _, cached := range nodes {
		n := cached.DeepCopy()
		lease, _ := c.leaseLister.Leases(leaseNamespace).Get(n.Name) // a missing lease leaves the status heartbeat
		if now.Sub(lastHeartbeat(n, lease)) > c.grace && markUnknown(n, now) {
			c.log.Warn("node stopped posting status", "node", n.Name)
			updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{FieldManager: fieldManager})
			if err != nil {
				return fmt.Errorf("mark node %s unknown: %w", n.Name, err)
			}
			n = updated.DeepCopy()
			c.recorder.Eventf(n, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", n.Name)
			if err := c.markPodsNotReady(ctx, n.Name); err != nil {
				return err
			}
		}
		if taints := desiredTaints(n, now); !apiequality.Semantic.DeepEqual(taints, n.Spec.Taints) {
			n.Spec.Taints = taints
			if _, err := c.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
				if apierrors.IsConflict(err) {
					continue // the kubelet wrote meanwhile; next round
				}
				return fmt.Errorf("update taints of node %s: %w", n.Name, err)
			}
		}
		if hasNoExecute(n.Spec.Taints) {
			pods, _ := c.podIndexer.ByIndex(byNode, n.Name)
			for _, p := range pods {
				c.enqueuePod(p)
			}
		}
	}
	return nil
}

func hasNoExecute(taints []corev1.Taint) bool {
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			return true
		}
	}
	return false
}

// markPodsNotReady sets Ready=False on the node's pods, so Services stop
// sending them traffic (upstream MarkPodsNotReady).
func (c *Controller) markPodsNotReady(ctx context.Context, node string) error {
	objs, err := c.podIndexer.ByIndex(byNode, node)
	if err != nil {
		return err
	}
	for _, o := range objs {
		p := o.(*corev1.Pod).DeepCopy()
		changed := false
		for i := range p.Status.Conditions {
			cond := &p.Status.Conditions[i]
			if cond.Type == corev1.PodReady && cond.Status != corev1.ConditionFalse {
				cond.Status, cond.LastTransitionTime = corev1.ConditionFalse, metav1.NewTime(c.clock.Now())
				changed = true
			}
		}
		if !changed {
			continue
		}
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("mark pod %s/%s not ready: %w", p.Namespace, p.Name, err)
		}
	}
	return nil
}

// evictionDelay returns how long pod may stay on a node with taints:
// <0 means never evict (all NoExecute taints tolerated forever).
func evictionDelay(pod *corev1.Pod, taints []corev1.Taint, now time.Time) time.Duration {
	delay := time.Duration(-1)
	for _, taint := range taints {
		if taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		var best *int64
		tolerated := false
		for _, t := range pod.Spec.Tolerations {
			if !tolerates(t, taint) {
				continue
			}
			if !tolerated || (best != nil && (t.TolerationSeconds == nil || *t.TolerationSeconds > *best)) {
				best = t.TolerationSeconds
			}
			tolerated = true
		}
		if !tolerated {
			return 0
		}
		if best == nil {
			continue
		}
		added := now
		if taint.TimeAdded != nil {
			added = taint.TimeAdded.Time
		}
		d := max(added.Add(time.Duration(*best)*time.Second).Sub(now), 0)
		if delay < 0 || d < delay {
			delay = d
		}
	}
	return delay
}

func tolerates(t corev1.Toleration, taint corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	if t.Operator == corev1.TolerationOpExists {
		return true
	}
	return t.Key != "" && t.Value == taint.Value
}

// evict deletes the pod namespace/name if its node's NoExecute taints say so.
func (c *Controller) evict(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pod.DeletionTimestamp != nil || pod.Spec.NodeName == "" {
		return nil
	}
	node, err := c.nodeLister.Get(pod.Spec.NodeName)
	if err != nil {
		return nil // a vanished node's pods are podgc's
	}
	d := evictionDelay(pod, node.Spec.Taints, c.clock.Now())
	switch {
	case d < 0:
		return nil
	case d > 0:
		c.evictions.AddAfter(key, d)
		return nil
	}
	c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s", key)
	err = c.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("evict pod %s: %w", key, err)
	}
	c.log.Info("evicted pod from tainted node", "pod", key, "node", node.Name)
	return nil
}
