package admission

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// The lists admission consults on every write (a namespace, its
// LimitRanges and ResourceQuotas, the PriorityClasses and StorageClasses)
// change rarely, so
// they are cached briefly instead of read from etcd per request, the way
// upstream's plugins use informers.
//
// Every change to them passes through this API server's Admit first, which
// drops the entry and reads live for bypassFor, long enough for the write
// to be stored. cacheTTL bounds how stale an entry can be when the change
// went through another API server.
const (
	cacheTTL  = 2 * time.Second
	bypassFor = 5 * time.Second
)

type listCache struct {
	mu      sync.Mutex
	entries map[string]cacheEntry
	bypass  map[string]time.Time // key -> read live until
}

type cacheEntry struct {
	objs    []runtime.Object
	expires time.Time
}

// list returns k's objects in namespace.
func (c *listCache) list(ctx context.Context, r Reader, k *kinds.Kind, namespace string) ([]runtime.Object, error) {
	return c.load(k.Resource+"/"+namespace, func() ([]runtime.Object, error) { return r.List(ctx, k, namespace) })
}

// get returns the cluster-scoped object k/name, or nil when there is none.
func (c *listCache) get(ctx context.Context, r Reader, k *kinds.Kind, name string) (runtime.Object, error) {
	objs, err := c.load(k.Resource+"/"+name, func() ([]runtime.Object, error) {
		obj, err := r.Get(ctx, k, "", name)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []runtime.Object{obj}, nil
	})
	if err != nil || len(objs) == 0 {
		return nil, err
	}
	return objs[0], nil
}

func (c *listCache) load(key string, fetch func() ([]runtime.Object, error)) ([]runtime.Object, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.objs, nil
	}
	objs, err := fetch()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Now().After(c.bypass[key]) {
		if c.entries == nil {
			c.entries = map[string]cacheEntry{}
		}
		c.entries[key] = cacheEntry{objs: objs, expires: now.Add(cacheTTL)}
	}
	return objs, nil
}

// invalidate drops resource/namespace and reads it live for bypassFor.
func (c *listCache) invalidate(resource, namespace string) {
	key := resource + "/" + namespace
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
	if c.bypass == nil {
		c.bypass = map[string]time.Time{}
	}
	c.bypass[key] = time.Now().Add(bypassFor)
}

// cachedResources are the kinds admission reads through the cache; a write
// to one invalidates its namespace's entry (a namespace is cached under its
// own name).
var cachedResources = map[string]bool{"namespaces": true, "limitranges": true, "resourcequotas": true, "priorityclasses": true, "storageclasses": true}

func (p *Plugins) invalidateFor(a *Attributes) {
	if a.Kind == nil || !cachedResources[a.Kind.Resource] || a.Subresource == "status" {
		return
	}
	ns := a.Namespace
	if a.Kind.Resource == "namespaces" {
		ns = a.Name
	}
	p.cache.invalidate(a.Kind.Resource, ns)
}
