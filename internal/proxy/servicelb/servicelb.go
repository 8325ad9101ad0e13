// Package servicelb gives LoadBalancer Services an address the way k3s's
// ServiceLB does: status.loadBalancer.ingress lists the InternalIPs of the
// Ready nodes, and every node's proxy accepts the Service's ports on them.
// Every node may run it: all compute the same status, so they agree.
package servicelb

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Controller keeps LoadBalancer ingress status.
type Controller struct {
	kube     kubernetes.Interface
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	log      *slog.Logger
}

// New registers handlers on factory's Service and Node informers.
func New(kube kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	svcs, nodes := factory.Core().V1().Services(), factory.Core().V1().Nodes()
	c := &Controller{
		kube: kube, services: svcs.Lister(), nodes: nodes.Lister(), log: log,
		synced: []cache.InformerSynced{svcs.Informer().HasSynced, nodes.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "servicelb"}),
	}
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	if _, err := svcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) },
	}); err != nil {
		return nil, fmt.Errorf("watch services: %w", err)
	}
	// Any node change may change the address list of every LB Service.
	all := func(any) {
		lbs, _ := c.services.List(labels.Everything()) // a lister List never fails
		for _, s := range lbs {
			if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
				enqueue(s)
			}
		}
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all, UpdateFunc: func(_, cur any) { all(cur) }, DeleteFunc: all,
	}); err != nil {
		return nil, fmt.Errorf("watch nodes: %w", err)
	}
	return c, nil
}

// Run waits for the caches and works until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("servicelb: caches did not sync")
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		for c.processNext(ctx) {
		}
	}, time.Second)
	<-ctx.Done()
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		c.log.Error("sync failed, will retry", "key", key, "err", err)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get service %s: %w", key, err)
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	want, ok := Ingress(svc, nodes)
	if !ok || apiequality.Semantic.DeepEqual(svc.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	upd := svc.DeepCopy()
	upd.Status.LoadBalancer.Ingress = want
	if _, err := c.kube.CoreV1().Services(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: "berth-servicelb"}); err != nil {
		return fmt.Errorf("update status of service %s: %w", key, err)
	}
	return nil
}

// Ingress is the ingress status svc should have, and whether servicelb
// manages it at all: LoadBalancer Services without a loadBalancerClass
// get the Ready nodes' InternalIPs (sorted); a Service that stopped being a
// LoadBalancer loses its ingress.
func Ingress(svc *corev1.Service, nodes []*corev1.Node) ([]corev1.LoadBalancerIngress, bool) {
	if svc.Spec.LoadBalancerClass != nil {
		return nil, false
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return nil, len(svc.Status.LoadBalancer.Ingress) > 0
	}
	var out []corev1.LoadBalancerIngress
	for _, n := range nodes {
		if !ready(n) {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				out = append(out, corev1.LoadBalancerIngress{IP: a.Address, IPMode: ptr(corev1.LoadBalancerIPModeVIP)})
			}
		}
	}
	slices.SortFunc(out, func(a, b corev1.LoadBalancerIngress) int { return cmp.Compare(a.IP, b.IP) })
	return slices.CompactFunc(out, func(a, b corev1.LoadBalancerIngress) bool { return a.IP == b.IP }), true
}

func ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }
