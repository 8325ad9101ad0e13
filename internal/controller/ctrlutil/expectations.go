package ctrlutil

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// ExpectationsTTL is how long expectations hold before a controller acts
// anyway: one lost watch event must not wedge an owner forever (upstream's
// ExpectationsTimeout).
const ExpectationsTTL = 5 * time.Minute

// Expectations records, per owner key, the creations a controller is still
// waiting to see in its informer and the UIDs of pods whose deletion it
// waits for. Deletions are tracked by UID because a deleted pod is observed
// twice (deletionTimestamp set, then gone) and must count once.
// It is upstream's UIDTrackingControllerExpectations in one type.
type Expectations struct {
	mu    sync.Mutex
	clock clock.PassiveClock
	m     map[string]*expectation
}

type expectation struct {
	adds      int
	deletions sets.Set[types.UID]
	at        time.Time
}

// NewExpectations returns empty expectations timed by clk.
func NewExpectations(clk clock.PassiveClock) *Expectations {
	return &Expectations{clock: clk, m: map[string]*expectation{}}
}

// Satisfied reports whether the controller may sync key: nothing is
// outstanding, the expectations expired, or none were ever set.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && x.deletions.Len() == 0 {
		return true
	}
	return e.clock.Since(x.at) > ExpectationsTTL
}

// ExpectCreations replaces key's expectations with n pending creations.
func (e *Expectations) ExpectCreations(key string, n int) { e.Expect(key, n, nil) }

// ExpectDeletions replaces key's expectations with the deletion of uids.
func (e *Expectations) ExpectDeletions(key string, uids []types.UID) { e.Expect(key, 0, uids) }

// Expect replaces key's expectations with n creations and the deletion
// of uids, for controllers that do both in one sync.
func (e *Expectations) Expect(key string, n int, uids []types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: n, deletions: sets.New(uids...), at: e.clock.Now()}
}

// CreationObserved lowers key's pending creations by one; creations that
// failed or were skipped are lowered the same way.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

// DeletionObserved forgets uid from key's pending deletions.
func (e *Expectations) DeletionObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.deletions.Delete(uid)
	}
}

// Delete drops key's expectations (its owner is gone).
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
