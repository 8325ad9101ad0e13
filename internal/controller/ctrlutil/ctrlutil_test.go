package ctrlutil

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestSlowStartBatch(t *testing.T) {
	tests := []struct {
		name      string
		count     int
		failAt    int32 // 0: never
		wantOK    int
		wantCalls int32
	}{
		{"all succeed", 10, 0, 10, 10},
		{"first call fails: stop after one", 10, 1, 0, 1},
		{"failure in the batch of 4 stops before the batch of 8", 20, 5, 6, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			ok, err := SlowStartBatch(tc.count, 1, func() error {
				if n := calls.Add(1); tc.failAt > 0 && n == tc.failAt {
					return errors.New("quota exceeded")
				}
				return nil
			})
			if ok != tc.wantOK || calls.Load() != tc.wantCalls || (tc.failAt > 0) != (err != nil) {
				t.Errorf("SlowStartBatch(%d) = %d, %v after %d calls; want %d after %d", tc.count, ok, err, calls.Load(), tc.wantOK, tc.wantCalls)
			}
		})
	}
}

func TestExpectations(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	e := NewExpectations(clk)
	if !e.Satisfied("a") {
		t.Error("Satisfied() with no expectations = false")
	}
	e.Expect("a", 2, []types.UID{"x"})
	e.CreationObserved("a")
	e.DeletionObserved("a", "x")
	e.DeletionObserved("a", "x") // a deletion seen twice counts once
	if e.Satisfied("a") {
		t.Error("Satisfied() with one creation outstanding = true")
	}
	e.CreationObserved("a")
	if !e.Satisfied("a") {
		t.Error("Satisfied() after everything was observed = false")
	}
	e.ExpectCreations("b", 1)
	clk.Step(ExpectationsTTL + time.Second)
	if !e.Satisfied("b") {
		t.Error("Satisfied() after the TTL = false: one lost event would wedge the owner")
	}
}

type patchRecorder struct {
	mu      sync.Mutex
	patches map[string][]metav1.OwnerReference
}

func (p *patchRecorder) patch(_ context.Context, _, name string, data []byte) error {
	var body struct {
		Metadata struct {
			OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.patches[name] = body.Metadata.OwnerReferences
	return nil
}

func TestClaim(t *testing.T) {
	owner := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "web-uid"}}
	other := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "other", UID: "other-uid"}}
	gvk := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	pod := func(name string, app string, ctrl metav1.Object) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name), Labels: map[string]string{"app": app}}}
		if ctrl != nil {
			p.OwnerReferences = []metav1.OwnerReference{*NewControllerRef(ctrl, gvk)}
		}
		return p
	}
	pods := []*corev1.Pod{
		pod("mine", "web", owner),
		pod("orphan", "web", nil),
		pod("theirs", "web", other),
		pod("relabelled", "db", owner),
		pod("stranger", "db", nil),
	}
	rec := &patchRecorder{patches: map[string][]metav1.OwnerReference{}}
	m := &RefManager{Owner: owner, OwnerGVK: gvk, Selector: labels.SelectorFromSet(labels.Set{"app": "web"}), Patch: rec.patch}
	got, err := Claim(context.Background(), m, pods)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if len(names) != 2 || names[0] != "mine" || names[1] != "orphan" {
		t.Errorf("Claim() = %v, want [mine orphan]", names)
	}
	if refs := rec.patches["orphan"]; len(refs) != 1 || refs[0].UID != "web-uid" || !*refs[0].Controller || !*refs[0].BlockOwnerDeletion {
		t.Errorf("adoption patch = %+v, want a controller ref with blockOwnerDeletion", refs)
	}
	if refs, ok := rec.patches["relabelled"]; !ok || len(refs) != 0 {
		t.Errorf("release patch = %+v (sent %v), want no ownerReferences", refs, ok)
	}
	if _, ok := rec.patches["theirs"]; ok {
		t.Error("patched another controller's pod")
	}
}
