package kubelet

import (
	"sync"
	"time"
)

// Upstream's container restart and image pull back-off: 10 s, doubling,
// capped at 5 min (pkg/kubelet/kubelet.go backOffPeriod, MaxContainerBackOff).
const (
	initialBackoff = 10 * time.Second
	maxBackoff     = 300 * time.Second
)

// backoffs is client-go's flowcontrol.Backoff reduced to what the kubelet
// uses: the first retry is immediate, each later one waits twice as long
// as the one before, and an entry idle for twice the cap starts over.
type backoffs struct {
	mu      sync.Mutex
	entries map[string]*backoffEntry
}

type backoffEntry struct {
	delay      time.Duration
	lastUpdate time.Time
}

func newBackoffs() *backoffs { return &backoffs{entries: map[string]*backoffEntry{}} }

// inBackoff reports whether key must still wait, counted from since (the
// last exit or failure), and for how long.
func (b *backoffs) inBackoff(key string, since, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || now.Sub(e.lastUpdate) > 2*maxBackoff {
		return false, 0
	}
	if left := since.Add(e.delay).Sub(now); left > 0 {
		return true, left
	}
	return false, 0
}

// current is the delay the next back-off message names.
func (b *backoffs) current(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		return e.delay
	}
	return initialBackoff
}

// next records a retry of key at now and lengthens its next wait.
func (b *backoffs) next(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || now.Sub(e.lastUpdate) > 2*maxBackoff {
		b.entries[key] = &backoffEntry{delay: initialBackoff, lastUpdate: now}
		return
	}
	e.delay = min(2*e.delay, maxBackoff)
	e.lastUpdate = now
}

// reset forgets key (the pull succeeded).
func (b *backoffs) reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.entries, key)
}
