// Package proxy is berth's service proxy: it watches Services and
// EndpointSlices and keeps one nftables table (family ip) in the node's
// network namespace that implements ClusterIPs, NodePorts, externalIPs and
// LoadBalancer ingress IPs, the way kube-proxy's nftables mode does. Each
// sync renders the whole desired state (Render) and applies it as one
// `nft -f` transaction.
//
// It talks to the API server only through informers, and must not import
// the API server, storage, kubelet or engine.
package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/berth-dev/berth/internal/proxy/nft"
)

// TableName is the proxy's table for a data dir.
func TableName(dataDir string) string { return nft.TableName("berth-svc-", dataDir) }

// Config configures a Proxier.
type Config struct {
	Table       string
	ClusterCIDR netip.Prefix
	ServiceCIDR netip.Prefix
	NodeName    string
	// Override replaces endpoints of some Service ports (the node-local DNS).
	Override Override
	// MinSyncInterval spaces syncs so a burst of changes costs one apply;
	// the first change after a quiet period syncs at once.
	MinSyncInterval time.Duration
	// Apply runs one nft script; nil means nft.Apply.
	Apply func(ctx context.Context, script string) error
	Log   *slog.Logger
}

// Proxier keeps the table in line with the informers' view.
type Proxier struct {
	cfg      Config
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	loop     nft.Syncer
	prev     *Objects
	// model is what the table holds after the last successful sync, for
	// the conntrack cleanup of the next one.
	model []Service
}

// New registers handlers on factory's Service and EndpointSlice informers;
// start the factory before Run.
func New(cfg Config, factory informers.SharedInformerFactory) (*Proxier, error) {
	if cfg.Apply == nil {
		cfg.Apply = nft.Apply
	}
	if cfg.MinSyncInterval == 0 {
		cfg.MinSyncInterval = 100 * time.Millisecond
	}
	svcs := factory.Core().V1().Services()
	eps := factory.Discovery().V1().EndpointSlices()
	p := &Proxier{
		cfg:      cfg,
		services: svcs.Lister(),
		slices:   eps.Lister(),
		synced:   []cache.InformerSynced{svcs.Informer().HasSynced, eps.Informer().HasSynced},
	}
	p.loop = nft.Syncer{Interval: cfg.MinSyncInterval, Sync: p.Sync, Log: cfg.Log}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.loop.Poke() },
		UpdateFunc: func(any, any) { p.loop.Poke() },
		DeleteFunc: func(any) { p.loop.Poke() },
	}
	for name, inf := range map[string]cache.SharedIndexInformer{"services": svcs.Informer(), "endpointslices": eps.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, fmt.Errorf("watch %s: %w", name, err)
		}
	}
	return p, nil
}

// Run syncs after every change until ctx is done. The first sync replaces
// whatever an earlier run left in the table. Rules stay in place when Run
// returns, so traffic keeps flowing while berth restarts; `berth reset`
// removes them.
func (p *Proxier) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		return fmt.Errorf("proxy: caches did not sync")
	}
	p.cfg.Log.Info("caches synced, proxying", "table", p.cfg.Table)
	p.loop.Run(ctx)
	return nil
}

// Sync renders and applies the current state once. After a failed apply
// the next Sync rebuilds the table from scratch.
func (p *Proxier) Sync(ctx context.Context) error {
	start := time.Now()
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	eps, err := p.slices.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list endpointslices: %w", err)
	}
	model := BuildModel(svcs, eps, p.cfg.Override)
	script, objs := Render(RenderConfig{Table: p.cfg.Table, NodeName: p.cfg.NodeName, ClusterCIDR: p.cfg.ClusterCIDR, ServiceCIDR: p.cfg.ServiceCIDR}, model, p.prev)
	if err := p.cfg.Apply(ctx, script); err != nil {
		p.prev = nil
		return fmt.Errorf("apply %d services: %w", len(model), err)
	}
	p.prev = objs
	if p.model != nil {
		// The rules are right already; a failed cleanup only delays UDP
		// clients until their entries time out, so it is logged, not retried.
		if err := deleteConntrack(ctx, staleUDP(p.model, model)); err != nil {
			p.cfg.Log.Warn("clear stale UDP conntrack entries", "err", err)
		}
	}
	p.model = model
	p.cfg.Log.Debug("synced", "services", len(model), "bytes", len(script), "took", time.Since(start))
	return nil
}
