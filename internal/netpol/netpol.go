// Package netpol enforces networking.k8s.io/v1 NetworkPolicies for the
// pods of one node in an nftables table of its own (family ip), rebuilt
// atomically with one `nft -f` per sync from Pod, Namespace and
// NetworkPolicy informers. See Render for the rule layout.
package netpol

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/berth-dev/berth/internal/proxy/nft"
)

// TableName is the enforcer's table for a data dir.
func TableName(dataDir string) string { return nft.TableName("berth-np-", dataDir) }

// Enforcer keeps the NetworkPolicy table of one node.
type Enforcer struct {
	table, node string
	policies    networkinglisters.NetworkPolicyLister
	pods        corelisters.PodLister
	namespaces  corelisters.NamespaceLister
	synced      []cache.InformerSynced
	loop        nft.Syncer
	apply       func(ctx context.Context, script string) error
	log         *slog.Logger
}

// New registers handlers on factory's informers; start it before Run.
func New(table, node string, factory informers.SharedInformerFactory, log *slog.Logger) (*Enforcer, error) {
	pol, pods, nss := factory.Networking().V1().NetworkPolicies(), factory.Core().V1().Pods(), factory.Core().V1().Namespaces()
	e := &Enforcer{
		table: table, node: node, log: log, apply: nft.Apply,
		policies: pol.Lister(), pods: pods.Lister(), namespaces: nss.Lister(),
		synced: []cache.InformerSynced{pol.Informer().HasSynced, pods.Informer().HasSynced, nss.Informer().HasSynced},
	}
	e.loop = nft.Syncer{Interval: 100 * time.Millisecond, Sync: e.Sync, Log: log}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { e.loop.Poke() },
		UpdateFunc: func(any, any) { e.loop.Poke() },
		DeleteFunc: func(any) { e.loop.Poke() },
	}
	for name, inf := range map[string]cache.SharedIndexInformer{"networkpolicies": pol.Informer(), "pods": pods.Informer(), "namespaces": nss.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, fmt.Errorf("watch %s: %w", name, err)
		}
	}
	return e, nil
}

// Run syncs after every change until ctx is done; the table stays when it
// returns (pods keep their isolation across restarts).
func (e *Enforcer) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), e.synced...) {
		return fmt.Errorf("netpol: caches did not sync")
	}
	e.log.Info("caches synced, enforcing network policies", "table", e.table)
	e.loop.Run(ctx)
	return nil
}

// Sync renders and applies the current state once.
func (e *Enforcer) Sync(ctx context.Context) error {
	var st State
	var err error
	st.Node = e.node
	if st.Policies, err = e.policies.List(labels.Everything()); err != nil {
		return fmt.Errorf("list networkpolicies: %w", err)
	}
	if st.Pods, err = e.pods.List(labels.Everything()); err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	if st.Namespaces, err = e.namespaces.List(labels.Everything()); err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	if err := e.apply(ctx, Render(e.table, st)); err != nil {
		return fmt.Errorf("apply network policies: %w", err)
	}
	return nil
}
