package garbagecollector

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Finalizers the API server adds for DeleteOptions.propagationPolicy.
const (
	foregroundFinalizer = metav1.FinalizerDeleteDependents // "foregroundDeletion"
	orphanFinalizer     = metav1.FinalizerOrphanDependents // "orphan"
)

// identity names one object.
type identity struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
	uid       types.UID
}

// node is one observed object in the ownership graph.
type node struct {
	id     identity
	owners []metav1.OwnerReference
	// deleting: deletionTimestamp is set.
	deleting bool
	// deletingDependents: deleting with the foregroundDeletion finalizer,
	// so the GC must delete dependents before letting the object go.
	deletingDependents bool
	orphaning          bool
	dependents         map[types.UID]struct{}
}

// graph maps every observed object to its owners and dependents, like
// upstream's GraphBuilder uidToNode. Owners need not be observed: the
// dependents index is by owner UID, so a dependent seen before its owner
// is linked once the owner shows up.
type graph struct {
	mu         sync.RWMutex
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]struct{} // owner uid -> dependent uids
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}, dependents: map[types.UID]map[types.UID]struct{}{}}
}

// observe records obj (added or updated) and returns its previous node
// copy, nil if new.
func (g *graph) observe(gvr schema.GroupVersionResource, obj metav1.Object) (prev, cur node, existed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := &node{
		id:       identity{gvr: gvr, namespace: obj.GetNamespace(), name: obj.GetName(), uid: obj.GetUID()},
		owners:   obj.GetOwnerReferences(),
		deleting: obj.GetDeletionTimestamp() != nil,
	}
	if n.deleting {
		for _, f := range obj.GetFinalizers() {
			switch f {
			case foregroundFinalizer:
				n.deletingDependents = true
			case orphanFinalizer:
				n.orphaning = true
			}
		}
	}
	old, existed := g.nodes[n.id.uid]
	if existed {
		prev = *old
		g.unlinkOwners(old)
	}
	g.nodes[n.id.uid] = n
	for _, r := range n.owners {
		if g.dependents[r.UID] == nil {
			g.dependents[r.UID] = map[types.UID]struct{}{}
		}
		g.dependents[r.UID][n.id.uid] = struct{}{}
	}
	return prev, *n, existed
}

func (g *graph) unlinkOwners(n *node) {
	for _, r := range n.owners {
		if deps := g.dependents[r.UID]; deps != nil {
			delete(deps, n.id.uid)
			if len(deps) == 0 {
				delete(g.dependents, r.UID)
			}
		}
	}
}

// remove forgets uid and returns its last node.
func (g *graph) remove(uid types.UID) (node, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	if !ok {
		return node{}, false
	}
	g.unlinkOwners(n)
	delete(g.nodes, uid)
	return *n, true
}

func (g *graph) get(uid types.UID) (node, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.nodes[uid]
	if !ok {
		return node{}, false
	}
	return *n, true
}

// dependentsOf returns the observed dependents of owner uid.
func (g *graph) dependentsOf(uid types.UID) []node {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []node
	for d := range g.dependents[uid] {
		if n, ok := g.nodes[d]; ok {
			out = append(out, *n)
		}
	}
	return out
}

// blocks reports whether dependent n holds a blockOwnerDeletion reference to owner.
func (n node) blocks(owner types.UID) bool {
	for _, r := range n.owners {
		if r.UID == owner && r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
			return true
		}
	}
	return false
}
