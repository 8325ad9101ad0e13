package podgc

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

func pod(name, node string, phase corev1.PodPhase, age time.Duration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name), CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-age))},
		Spec:       corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase},
	}
}

func TestExcessTerminated(t *testing.T) {
	pods := []*corev1.Pod{
		pod("new", "n", corev1.PodSucceeded, time.Minute),
		pod("old", "n", corev1.PodFailed, time.Hour),
		pod("running", "n", corev1.PodRunning, 2*time.Hour),
		pod("mid", "n", corev1.PodSucceeded, 10*time.Minute),
	}
	got := excessTerminated(pods, 2)
	if len(got) != 1 || got[0].Name != "old" {
		t.Errorf("excessTerminated(threshold 2) = %v, want [old]", got)
	}
}

func TestOrphansDeletedAfterQuarantine(t *testing.T) {
	gone := pod("gone", "dead-node", corev1.PodRunning, time.Minute)
	kept := pod("kept", "live-node", corev1.PodRunning, time.Minute)
	live := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "live-node"}}
	cs := fake.NewSimpleClientset(gone, kept, live)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c := New(cs, inf, DefaultTerminatedThreshold, slog.New(slog.DiscardHandler))
	clk := clocktesting.NewFakeClock(time.Unix(1e9, 0))
	c.clock = clk
	for _, p := range []*corev1.Pod{gone, kept} {
		if err := inf.Core().V1().Pods().Informer().GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := inf.Core().V1().Nodes().Informer().GetIndexer().Add(live); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.collect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "gone", metav1.GetOptions{}); err != nil {
		t.Fatalf("pod deleted before the quarantine: %v", err)
	}
	clk.Step(quarantine + time.Second)
	if err := c.collect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "gone", metav1.GetOptions{}); err == nil {
		t.Errorf("pod on a vanished node still there after the quarantine")
	}
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Errorf("pod on a live node deleted: %v", err)
	}
}
