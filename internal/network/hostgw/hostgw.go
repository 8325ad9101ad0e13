// Package hostgw routes pods between nodes the way flannel's host-gw
// backend does: every node gets a route `podCIDR via InternalIP` for each
// other node, in its own network namespace, so a packet from a local pod
// to a remote pod leaves on the link to that node with its pod source
// address (no encapsulation, no NAT) and is forwarded onto the remote
// node's bridge.
//
// It is the one part of internal/network that watches the API (Nodes,
// through client-go); it shares no code with the CNI side and must not
// import the kubelet or the engine.
package hostgw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// ResyncPeriod is how long after a sync the next one runs without any
// Node change, so a route someone deleted, or a link that came up late, is
// fixed anyway.
const ResyncPeriod = 30 * time.Second

// syncKey is the only queue key: every sync computes the whole table
// (level-triggered), so events only need to say "look again".
const syncKey = "routes"

// Config is what a Controller needs besides the informers.
type Config struct {
	// NodeName is this node; its own pod CIDR sits on the local bridge.
	NodeName string
	// ClusterCIDR bounds the pod CIDRs that get routes.
	ClusterCIDR netip.Prefix
	// StateDir keeps the forwarding values to restore on Reset.
	StateDir string
	Log      *slog.Logger
}

// Controller keeps this node's routes to the other nodes' pod CIDRs.
type Controller struct {
	cfg    Config
	nodes  corelisters.NodeLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
	host   host
}

// New registers the Node handlers on factory; start the factory, then
// call Run.
func New(cfg Config, factory informers.SharedInformerFactory) (*Controller, error) {
	if cfg.NodeName == "" || !cfg.ClusterCIDR.IsValid() || cfg.StateDir == "" {
		return nil, errors.New("hostgw: NodeName, ClusterCIDR and StateDir are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	inf := factory.Core().V1().Nodes()
	c := &Controller{
		cfg:    cfg,
		nodes:  inf.Lister(),
		synced: inf.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "hostgw"}),
		host: iproute{stateDir: cfg.StateDir},
	}
	enqueue := func(any) { c.queue.Add(syncKey) }
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			// Heartbeats change Node status every few seconds; only the
			// pod CIDR and the addresses matter here.
			o, ok1 := old.(*corev1.Node)
			n, ok2 := cur.(*corev1.Node)
			if !ok1 || !ok2 || o.Spec.PodCIDR != n.Spec.PodCIDR || !equality.Semantic.DeepEqual(o.Status.Addresses, n.Status.Addresses) {
				enqueue(cur)
			}
		},
		DeleteFunc: enqueue,
	}); err != nil {
		return nil, fmt.Errorf("hostgw: node handler: %w", err)
	}
	return c, nil
}

// Run syncs routes until ctx is done. Routes stay when it returns: pods
// on other nodes stay reachable across an agent restart; Reset removes them.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	c.cfg.Log.Info("starting")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return fmt.Errorf("hostgw: wait for node cache: %w", ctx.Err())
	}
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for {
		key, quit := c.queue.Get()
		if quit {
			return nil
		}
		if err := c.sync(ctx); err != nil {
			c.cfg.Log.Error("sync failed, will retry", "err", err)
			c.queue.AddRateLimited(key) // back-off, no hot loop
		} else {
			c.queue.Forget(key)
			c.queue.AddAfter(key, ResyncPeriod)
		}
		c.queue.Done(key)
	}
}

// sync makes the kernel's routes of RouteProtocol match the Nodes. A node
// that can't be routed (no path to its address, or only the default
// route) is logged and left out; the next resync tries again.
func (c *Controller) sync(ctx context.Context) error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	wants, problems := Desired(c.cfg.NodeName, nodes, c.cfg.ClusterCIDR)
	for _, p := range problems {
		c.cfg.Log.Warn("node not routed", "err", p)
	}
	var want []Route
	for _, w := range wants {
		matches, err := c.host.matching(ctx, w.NodeIP)
		if err != nil {
			return err
		}
		r, err := Nexthop(w, matches)
		if err != nil {
			c.cfg.Log.Warn("node not routed", "node", w.Node, "err", err)
			continue
		}
		want = append(want, r)
	}
	have, err := c.host.installed(ctx)
	if err != nil {
		return err
	}
	var errs []error
	devs := map[string]bool{}
	for _, r := range want {
		if devs[r.Dev] {
			continue
		}
		devs[r.Dev] = true
		// Before any route: a route without forwarding on its link
		// would drop the remote pods' packets to local pods.
		if err := c.host.enableForwarding(r.Dev); err != nil {
			errs = append(errs, err)
		}
	}
	replace, remove := Diff(want, have)
	for _, r := range replace {
		if err := c.host.replace(ctx, r); err != nil {
			errs = append(errs, err)
			continue
		}
		c.cfg.Log.Info("route added", "route", r.String())
	}
	for _, r := range remove {
		if err := c.host.remove(ctx, r.Dst); err != nil {
			errs = append(errs, err)
			continue
		}
		c.cfg.Log.Info("route removed", "route", r.String())
	}
	return errors.Join(errs...)
}
