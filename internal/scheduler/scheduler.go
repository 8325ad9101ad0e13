// Package scheduler binds pending pods to nodes, like upstream's
// default-scheduler with its default plugins reduced to: NodeUnschedulable,
// TaintToleration (NoSchedule/NoExecute), NodeAffinity (nodeSelector and
// required terms), NodePorts, NodeResourcesFit (filter and LeastAllocated
// score) and NodeResourcesBalancedAllocation. There is no preemption.
//
// It also hands out each node's spec.podCIDR (see PodCIDRAllocator), since
// both are leader-elected control-plane loops over nodes.
//
// It talks to the API server only through client-go and must not import the
// apiserver, storage, kubelet or engine.
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Name is the schedulerName this scheduler serves and its event source.
const Name = corev1.DefaultSchedulerName

// Event reasons, as upstream's.
const (
	Scheduled        = "Scheduled"
	FailedScheduling = "FailedScheduling"
)

// Scheduler binds pods whose spec.schedulerName is default-scheduler.
type Scheduler struct {
	client   kubernetes.Interface
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	log      *slog.Logger

	// assumed holds binds this scheduler made that the pod informer has not
	// shown yet (pod UID -> node), so two quick pods don't both take the
	// last free CPU of a node.
	mu      sync.Mutex
	assumed map[types.UID]*corev1.Pod
}

// New wires the scheduler to the factory's pod and node informers. The
// caller starts the factory; Run waits for its caches.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger) *Scheduler {
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	s := &Scheduler{
		client:   client,
		pods:     podInf.Lister(),
		nodes:    nodeInf.Lister(),
		synced:   []cache.InformerSynced{podInf.Informer().HasSynced, nodeInf.Informer().HasSynced},
		queue:    workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "scheduler"}),
		recorder: recorder,
		log:      log,
		assumed:  map[types.UID]*corev1.Pod{},
	}
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.podChanged(obj) },
		UpdateFunc: func(_, obj any) { s.podChanged(obj) },
		DeleteFunc: func(obj any) { s.requeuePending() },
	})
	// Any node change may make a pending pod fit.
	nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.requeuePending() },
		UpdateFunc: func(old, cur any) { s.nodeUpdated(old, cur) },
		DeleteFunc: func(any) { s.requeuePending() },
	})
	return s
}

func (s *Scheduler) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if pod.Spec.NodeName != "" {
		s.mu.Lock()
		delete(s.assumed, pod.UID)
		s.mu.Unlock()
		// A pod that finished frees its resources.
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			s.requeuePending()
		}
		return
	}
	if responsible(pod) {
		if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
			s.queue.Add(key)
		}
	}
}

// nodeUpdated skips the heartbeat-only status updates (condition times):
// they change nothing a filter reads.
func (s *Scheduler) nodeUpdated(old, cur any) {
	o, ok1 := old.(*corev1.Node)
	n, ok2 := cur.(*corev1.Node)
	if ok1 && ok2 && o.ResourceVersion == n.ResourceVersion {
		return
	}
	s.requeuePending()
}

func responsible(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" && pod.Spec.SchedulerName == Name && pod.DeletionTimestamp == nil &&
		pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

func (s *Scheduler) requeuePending() {
	pods, err := s.pods.List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		if responsible(p) {
			if key, err := cache.MetaNamespaceKeyFunc(p); err == nil {
				s.queue.Add(key)
			}
		}
	}
}

// Run schedules with workers goroutines until ctx is done. It returns
// after the workers stopped.
func (s *Scheduler) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrash()
	defer s.queue.ShutDown()
	s.log.Info("starting scheduler")
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return fmt.Errorf("scheduler: caches did not sync")
	}
	s.log.Info("scheduler caches synced")
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for s.processNext(ctx) {
				}
			}, time.Second)
		})
	}
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	s.log.Info("scheduler stopped")
	return nil
}

func (s *Scheduler) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	if err := s.sync(ctx, key); err != nil {
		s.log.Error("schedule failed, will retry", "pod", key, "err", err)
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	return true
}

// sync schedules one pod. An unschedulable pod is not an error: it is
// retried when a node or pod changes, not on a timer.
func (s *Scheduler) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := s.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !responsible(pod) || s.isAssumed(pod) {
		return nil
	}
	infos, err := s.snapshot()
	if err != nil {
		return err
	}
	node, reasons := pickNode(pod, infos)
	if node == "" {
		return s.markUnschedulable(ctx, pod, fitErrorMessage(len(infos), reasons))
	}
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	if err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // gone, or bound by someone else: the informer tells us
		}
		return fmt.Errorf("bind %s to %s: %w", key, node, err)
	}
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = node
	s.mu.Lock()
	s.assumed[pod.UID] = assumed
	s.mu.Unlock()
	s.recorder.Eventf(pod, corev1.EventTypeNormal, Scheduled, "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
	s.log.Debug("bound", "pod", key, "node", node)
	return nil
}

func (s *Scheduler) isAssumed(pod *corev1.Pod) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.assumed[pod.UID]
	return ok
}

// snapshot groups the live pods by node, counting assumed binds.
func (s *Scheduler) snapshot() ([]nodeInfo, error) {
	nodes, err := s.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	pods, err := s.pods.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	byNode := map[string][]*corev1.Pod{}
	seen := map[types.UID]bool{}
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		seen[p.UID] = true
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
	}
	s.mu.Lock()
	for uid, p := range s.assumed {
		if !seen[uid] {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
		}
	}
	s.mu.Unlock()
	infos := make([]nodeInfo, 0, len(nodes))
	for _, n := range nodes {
		infos = append(infos, nodeInfo{node: n, pods: byNode[n.Name]})
	}
	return infos, nil
}

// markUnschedulable records the FailedScheduling event and sets
// PodScheduled=False/Unschedulable, writing status only when it changed.
func (s *Scheduler) markUnschedulable(ctx context.Context, pod *corev1.Pod, msg string) error {
	s.recorder.Event(pod, corev1.EventTypeWarning, FailedScheduling, msg)
	s.log.Debug("unschedulable", "pod", pod.Namespace+"/"+pod.Name, "reason", msg)
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && c.Message == msg {
			return nil
		}
	}
	p := pod.DeepCopy()
	cond := corev1.PodCondition{
		Type:               corev1.PodScheduled,
		Status:             corev1.ConditionFalse,
		Reason:             corev1.PodReasonUnschedulable,
		Message:            msg,
		LastTransitionTime: metav1.Now(),
	}
	replaced := false
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			p.Status.Conditions[i] = cond
			replaced = true
		}
	}
	if !replaced {
		p.Status.Conditions = append(p.Status.Conditions, cond)
	}
	if _, err := s.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("set PodScheduled=False on %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}
