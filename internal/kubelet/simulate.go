package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth-dev/berth/internal/version"
)

// SimulatedLabel marks nodes run by RunSimulated, so nothing mistakes them
// for real ones.
const SimulatedLabel = "berth.dev/simulated"

// SimulatedNode is one simulated node and its own credentials.
type SimulatedNode struct {
	Name   string
	Client kubernetes.Interface
}

// RunSimulated runs nodes that register, renew their Lease, post status
// and report the pods bound to them Running (and finish their deletion)
// without starting anything, like KWOK. They have no addresses, so nothing
// ever tries to reach them over the network. watch reads the pods of all
// of them in one informer.
func RunSimulated(ctx context.Context, watch kubernetes.Interface, nodes []SimulatedNode, log *slog.Logger) error {
	byName := map[string]SimulatedNode{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	for _, n := range nodes {
		if err := registerSimulated(ctx, n); err != nil {
			return err
		}
	}
	log.Info("simulated nodes registered", "count", len(nodes))

	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	factory := informers.NewSharedInformerFactory(watch, 0)
	pods := factory.Core().V1().Pods()
	enqueue := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			if _, ours := byName[p.Spec.NodeName]; ours {
				if key, err := cache.MetaNamespaceKeyFunc(p); err == nil {
					queue.Add(key)
				}
			}
		}
	}
	pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }})
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced) {
		return ctx.Err()
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer queue.ShutDown()
	for range 4 {
		wg.Go(func() {
			for {
				key, quit := queue.Get()
				if quit {
					return
				}
				err := syncSimulatedPod(ctx, pods.Lister(), byName, key)
				if err != nil {
					log.Debug("simulated pod sync failed, will retry", "pod", key, "err", err)
					queue.AddRateLimited(key)
				} else {
					queue.Forget(key)
				}
				queue.Done(key)
			}
		})
	}
	lease := time.NewTicker(leaseRenewInterval)
	defer lease.Stop()
	status := time.NewTicker(statusReportInterval)
	defer status.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-lease.C:
			for _, n := range nodes {
				(&Kubelet{cfg: Config{NodeName: n.Name}, client: n.Client, log: log}).renewLease(ctx)
			}
		case <-status.C:
			for _, n := range nodes {
				if err := postSimulatedStatus(ctx, n); err != nil {
					log.Error("simulated node status failed", "node", n.Name, "err", err)
				}
			}
		}
	}
}

func registerSimulated(ctx context.Context, n SimulatedNode) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{
		corev1.LabelHostname: n.Name, corev1.LabelOSStable: "linux", SimulatedLabel: "true",
	}}}
	if _, err := n.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register simulated node %s: %w", n.Name, err)
	}
	(&Kubelet{cfg: Config{NodeName: n.Name}, client: n.Client, log: slog.New(slog.DiscardHandler)}).renewLease(ctx)
	return postSimulatedStatus(ctx, n)
}

// postSimulatedStatus writes n's status, re-reading the Node on a conflict:
// the pod CIDR allocator and the node lifecycle controller update Nodes too.
func postSimulatedStatus(ctx context.Context, n SimulatedNode) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := n.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		st := nodeStatus(hostInfo{cpus: 32, memory: 256 << 30, storage: 1 << 40, kernel: "simulated", osImage: "berth simulated node", podCIDRSet: true},
			"", node.Status.Conditions, now)
		st.Addresses = nil // never reachable: see RunSimulated
		st.NodeInfo.ContainerRuntimeVersion = "berth-simulated://" + version.Berth
		node.Status = st
		_, err = n.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

// syncSimulatedPod reports a bound pod Running with every container ready,
// or finishes the deletion of a terminating one.
func syncSimulatedPod(ctx context.Context, lister corelisters.PodLister, nodes map[string]SimulatedNode, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := lister.Pods(ns).Get(name)
	if err != nil {
		return nil // gone
	}
	n, ok := nodes[pod.Spec.NodeName]
	if !ok {
		return nil
	}
	pods := n.Client.CoreV1().Pods(ns)
	if pod.DeletionTimestamp != nil {
		uid := pod.UID
		err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &uid}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	if pod.Status.Phase == corev1.PodRunning || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	p := pod.DeepCopy()
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = &now
	p.Status.QOSClass = qosClass(&p.Spec)
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		started := true
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	p.Status.Conditions = podConditions(pod.Status.Conditions, &p.Spec, corev1.PodRunning, nil, p.Status.ContainerStatuses, now)
	_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
