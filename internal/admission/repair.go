package admission

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Repair makes the ClusterIP and NodePort claims agree with the stored
// Services, as upstream's ipallocator and portallocator repair loops do:
// it frees claims whose Service is gone or no longer holds them (a crash
// between a delete and its Release leaves such a claim) and claims what a
// stored Service holds without a claim. Run it every few minutes once the
// API server serves: a claim is freed on the second run that finds it
// stale, so creates in flight keep theirs.
func (p *Plugins) Repair(ctx context.Context) error {
	claimed := map[string]string{}
	for _, prefix := range []string{serviceIPPrefix, nodePortPrefix} {
		m, err := p.claims.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("repair claims: %w", err)
		}
		for k, v := range m {
			claimed[k] = v
		}
	}
	services, err := p.reader.List(ctx, coreKind("services"), "")
	if err != nil {
		return fmt.Errorf("repair claims: list services: %w", err)
	}
	held := map[string]string{}
	for _, obj := range services {
		svc := obj.(*corev1.Service)
		for k := range claimKeys(svc) {
			held[k] = owner(svc)
		}
	}
	for k, who := range held {
		if _, ok := claimed[k]; !ok {
			if _, err := p.claims.Claim(ctx, k, who); err != nil {
				return fmt.Errorf("repair claim %s: %w", k, err)
			}
		}
	}
	// A claim made by a create still in flight has no stored Service yet,
	// so a claim is freed only when it was already stale on the previous
	// run, with the same owner.
	p.repairMu.Lock()
	defer p.repairMu.Unlock()
	stale := map[string]string{}
	freed := 0
	for k, who := range claimed {
		if held[k] == who {
			continue
		}
		if p.suspect[k] != who {
			stale[k] = who
			continue
		}
		if err := p.claims.Unclaim(ctx, k); err != nil {
			return fmt.Errorf("repair claim %s: %w", k, err)
		}
		freed++
	}
	p.suspect = stale
	if freed > 0 {
		p.log.Info("freed claims no Service holds", "count", freed)
	}
	return nil
}

// repairInterval is how often Run repairs the claims (upstream's repair
// loops run every three minutes).
const repairInterval = 3 * time.Minute

// Run calls Repair every three minutes until ctx is done, then returns
// nil. A failed run is logged and retried on the next tick. Start it once
// the API server serves.
func (p *Plugins) Run(ctx context.Context) error {
	t := time.NewTicker(repairInterval)
	defer t.Stop()
	for {
		if err := p.Repair(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("repair service claims, will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
