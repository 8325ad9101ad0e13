package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// NodeSubnetBits is the size of each node's pod range: one /24 per node,
// like upstream's nodeipam default --node-cidr-mask-size.
const NodeSubnetBits = 24

// PodCIDRAllocator gives every node without one a spec.podCIDR carved from
// the cluster CIDR (upstream's nodeipam range allocator, reduced). A node
// agent cannot set its own spec with node credentials, so a control-plane
// loop does it; the agent waits for the field before it runs pods.
type PodCIDRAllocator struct {
	client  kubernetes.Interface
	nodes   corelisters.NodeLister
	synced  cache.InformerSynced
	cluster netip.Prefix
	queue   workqueue.TypedRateLimitingInterface[string]
	log     *slog.Logger
}

// NewPodCIDRAllocator allocates from cluster (e.g. 10.244.0.0/16).
func NewPodCIDRAllocator(client kubernetes.Interface, factory informers.SharedInformerFactory, cluster netip.Prefix, log *slog.Logger) (*PodCIDRAllocator, error) {
	if !cluster.Addr().Is4() || cluster.Bits() > NodeSubnetBits {
		return nil, fmt.Errorf("cluster CIDR %v must be IPv4 and wider than /%d", cluster, NodeSubnetBits)
	}
	inf := factory.Core().V1().Nodes()
	a := &PodCIDRAllocator{
		client:  client,
		nodes:   inf.Lister(),
		synced:  inf.Informer().HasSynced,
		cluster: cluster.Masked(),
		queue:   workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "podcidr"}),
		log:     log,
	}
	enqueue := func(obj any) {
		if n, ok := obj.(*corev1.Node); ok && n.Spec.PodCIDR == "" {
			a.queue.Add(n.Name)
		}
	}
	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	return a, nil
}

// Run allocates until ctx is done, one node at a time so two nodes never
// pick the same free range.
func (a *PodCIDRAllocator) Run(ctx context.Context) error {
	defer a.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), a.synced) {
		return fmt.Errorf("podcidr: caches did not sync")
	}
	go func() {
		<-ctx.Done()
		a.queue.ShutDown()
	}()
	for {
		name, quit := a.queue.Get()
		if quit {
			return nil
		}
		if err := a.sync(ctx, name); err != nil {
			a.log.Error("allocate pod CIDR failed, will retry", "node", name, "err", err)
			a.queue.AddRateLimited(name)
		} else {
			a.queue.Forget(name)
		}
		a.queue.Done(name)
	}
}

func (a *PodCIDRAllocator) sync(ctx context.Context, name string) error {
	node, err := a.nodes.Get(name)
	if err != nil || node.Spec.PodCIDR != "" {
		return nil // gone or done
	}
	all, err := a.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	var used []string
	for _, n := range all {
		used = append(used, n.Spec.PodCIDRs...)
		if n.Spec.PodCIDR != "" {
			used = append(used, n.Spec.PodCIDR)
		}
	}
	cidr, err := nextFreeSubnet(a.cluster, used)
	if err != nil {
		return err
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"podCIDR": cidr.String(), "podCIDRs": []string{cidr.String()}}})
	if _, err := a.client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("set podCIDR %s: %w", cidr, err)
	}
	a.log.Info("allocated pod CIDR", "node", name, "podCIDR", cidr)
	return nil
}

// nextFreeSubnet returns the first /24 of cluster not in used.
func nextFreeSubnet(cluster netip.Prefix, used []string) (netip.Prefix, error) {
	taken := map[netip.Prefix]bool{}
	for _, u := range used {
		if p, err := netip.ParsePrefix(u); err == nil {
			taken[p.Masked()] = true
		}
	}
	count := 1 << (NodeSubnetBits - cluster.Bits())
	base := cluster.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	for i := range count {
		v := start + uint32(i)<<(32-NodeSubnetBits)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), NodeSubnetBits)
		if !taken[p] {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("cluster CIDR %v has no free /%d left", cluster, NodeSubnetBits)
}
