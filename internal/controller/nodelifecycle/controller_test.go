package nodelifecycle

import (
	"context"
	"log/slog"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func TestEvictionDelay(t *testing.T) {
	added := metav1.NewTime(now.Add(-100 * time.Second))
	unreachable := []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}}
	tests := []struct {
		name  string
		tols  []corev1.Toleration
		taint []corev1.Taint
		want  time.Duration
	}{
		{"no toleration: now", nil, unreachable, 0},
		{"default 300s toleration: the rest of it", []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))}}, unreachable, 200 * time.Second},
		{"tolerated forever (daemon pods)", []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}, unreachable, -1},
		{"NoSchedule only: never", nil, []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectNoSchedule}}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tc.tols}}
			if got := evictionDelay(p, tc.taint, now); got != tc.want {
				t.Errorf("evictionDelay() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDesiredTaints(t *testing.T) {
	n := &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{{Key: "user", Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}}}
	got := desiredTaints(n, now)
	var keys []string
	for _, t := range got {
		keys = append(keys, t.Key+":"+string(t.Effect))
	}
	want := []string{"user:NoSchedule", "node.kubernetes.io/unreachable:NoSchedule", "node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unschedulable:NoSchedule"}
	if len(keys) != len(want) {
		t.Fatalf("desiredTaints() = %v, want %v", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Errorf("desiredTaints()[%d] = %s, want %s", i, keys[i], want[i])
		}
	}
}

func TestMonitorMarksSilentNodeUnknown(t *testing.T) {
	hb := metav1.NewTime(now.Add(-time.Minute))
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: hb}}}}
	fresh := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node2"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: hb}}}}
	renewed := metav1.NewMicroTime(now.Add(-5 * time.Second))
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node2", Namespace: leaseNamespace}, Spec: coordinationv1.LeaseSpec{RenewTime: &renewed}}
	cs := fake.NewSimpleClientset(n, fresh, lease)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(cs, inf, record.NewFakeRecorder(10), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c.clock = clocktesting.NewFakeClock(now)
	for _, o := range []*corev1.Node{n, fresh} {
		if err := inf.Core().V1().Nodes().Informer().GetIndexer().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := inf.Coordination().V1().Leases().Informer().GetIndexer().Add(lease); err != nil {
		t.Fatal(err)
	}
	if err := c.monitor(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := cs.CoreV1().Nodes().Get(context.Background(), "node1", metav1.GetOptions{})
	if c := readyCondition(got); c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusUnknown" {
		t.Errorf("silent node Ready = %+v, want Unknown/NodeStatusUnknown", c)
	}
	if len(got.Spec.Taints) != 2 || got.Spec.Taints[1].Key != corev1.TaintNodeUnreachable || got.Spec.Taints[1].TimeAdded == nil {
		t.Errorf("silent node taints = %+v, want unreachable NoSchedule+NoExecute", got.Spec.Taints)
	}
	got, _ = cs.CoreV1().Nodes().Get(context.Background(), "node2", metav1.GetOptions{})
	if c := readyCondition(got); c.Status != corev1.ConditionTrue {
		t.Errorf("node with a fresh lease Ready = %s, want True", c.Status)
	}
}
