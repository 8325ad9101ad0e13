package kubelet

import (
	"context"
	"sync"
	"time"
)

// relistPeriod bounds how stale the kubelet's view of its containers may
// be: an exit is seen within it (upstream's PLEG relists every second).
const relistPeriod = 500 * time.Millisecond

// cachedRuntime answers ListContainers from one snapshot of all the
// kubelet's containers, taken at most every relistPeriod, instead of every
// pod worker listing (and the engine reading every container's state) on
// each resync. Any change the kubelet makes (create, start, stop, remove)
// drops the snapshot, so a worker always sees its own changes.
type cachedRuntime struct {
	Runtime
	mu   sync.Mutex
	gen  uint64 // bumped by every change
	snap []ContainerInfo
	at   time.Time
	// snapGen is gen when snap was taken; snap is valid only while equal.
	snapGen uint64
}

func newCachedRuntime(rt Runtime) *cachedRuntime { return &cachedRuntime{Runtime: rt} }

func (c *cachedRuntime) invalidate() {
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// ListContainers filters the snapshot by labels; lists without the pod
// UID label (housekeeping) go to the runtime.
func (c *cachedRuntime) ListContainers(ctx context.Context, labels map[string]string) ([]ContainerInfo, error) {
	if _, ok := labels[LabelPodUID]; !ok {
		return c.Runtime.ListContainers(ctx, labels)
	}
	c.mu.Lock()
	snap, fresh, gen := c.snap, c.snapGen == c.gen && time.Since(c.at) < relistPeriod, c.gen
	c.mu.Unlock()
	if !fresh {
		all, err := c.Runtime.ListContainers(ctx, map[string]string{LabelManaged: "true"})
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.gen == gen { // no change raced with the list
			c.snap, c.snapGen, c.at = all, gen, time.Now()
		}
		c.mu.Unlock()
		snap = all
	}
	var out []ContainerInfo
	for _, ci := range snap {
		match := true
		for k, v := range labels {
			if ci.Labels[k] != v {
				match = false
				break
			}
		}
		if match {
			out = append(out, ci)
		}
	}
	return out, nil
}

func (c *cachedRuntime) CreateContainer(ctx context.Context, cfg ContainerConfig) (string, error) {
	defer c.invalidate()
	return c.Runtime.CreateContainer(ctx, cfg)
}

func (c *cachedRuntime) StartContainer(ctx context.Context, id string) error {
	defer c.invalidate()
	return c.Runtime.StartContainer(ctx, id)
}

func (c *cachedRuntime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	defer c.invalidate()
	return c.Runtime.StopContainer(ctx, id, grace)
}

func (c *cachedRuntime) RemoveContainer(ctx context.Context, id string) error {
	defer c.invalidate()
	return c.Runtime.RemoveContainer(ctx, id)
}
