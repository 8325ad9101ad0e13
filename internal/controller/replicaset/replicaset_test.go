package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newRS(name string, n int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), Generation: 2},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

func newPod(name string, rs *appsv1.ReplicaSet, phase corev1.PodPhase, ready bool, node string, created time.Time) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "default", UID: types.UID(name), Labels: rs.Spec.Template.Labels,
			CreationTimestamp: metav1.NewTime(created),
		},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: phase},
	}
	if rs.UID != "" {
		p.OwnerReferences = []metav1.OwnerReference{*ctrlutil.NewControllerRef(rs, rsKind)}
	}
	if ready {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(created)}}
	}
	return p
}

func TestPodsToDelete(t *testing.T) {
	rs := newRS("web", 1)
	old := now.Add(-time.Hour)
	tests := []struct {
		name string
		pods []*corev1.Pod
		want string
	}{
		{"unscheduled before scheduled", []*corev1.Pod{
			newPod("sched", rs, corev1.PodRunning, true, "n1", old),
			newPod("unsched", rs, corev1.PodPending, false, "", old),
		}, "unsched"},
		{"pending before running", []*corev1.Pod{
			newPod("running", rs, corev1.PodRunning, false, "n1", old),
			newPod("pending", rs, corev1.PodPending, false, "n1", old),
		}, "pending"},
		{"not ready before ready", []*corev1.Pod{
			newPod("ready", rs, corev1.PodRunning, true, "n1", old),
			newPod("notready", rs, corev1.PodRunning, false, "n1", old),
		}, "notready"},
		{"newer before older", []*corev1.Pod{
			newPod("older", rs, corev1.PodRunning, false, "n1", old),
			newPod("newer", rs, corev1.PodRunning, false, "n1", old.Add(time.Minute)),
		}, "newer"},
		{"more restarts first", func() []*corev1.Pod {
			a := newPod("calm", rs, corev1.PodRunning, false, "n1", old)
			b := newPod("crashy", rs, corev1.PodRunning, false, "n1", old)
			b.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: 4}}
			return []*corev1.Pod{a, b}
		}(), "crashy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := podsToDelete(tc.pods, 1, now)
			if len(got) != 1 || got[0].Name != tc.want {
				t.Errorf("podsToDelete() = %v, want [%s]", names(got), tc.want)
			}
		})
	}
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestCalculateStatus(t *testing.T) {
	rs := newRS("web", 3)
	rs.Spec.MinReadySeconds = 30
	pods := []*corev1.Pod{
		newPod("a", rs, corev1.PodRunning, true, "n1", now.Add(-time.Minute)),
		newPod("b", rs, corev1.PodRunning, true, "n1", now.Add(-10*time.Second)),
		newPod("c", rs, corev1.PodPending, false, "", now),
	}
	pods[2].Labels = map[string]string{"app": "web", "extra": "x"}
	st := calculateStatus(rs, pods, nil, now)
	if st.Replicas != 3 || st.ReadyReplicas != 2 || st.AvailableReplicas != 1 || st.FullyLabeledReplicas != 3 {
		t.Errorf("calculateStatus() = %+v, want replicas 3 ready 2 available 1 fullyLabeled 3", st)
	}
	st = calculateStatus(rs, pods[:1], errors.New(`pods "web-x" is forbidden: exceeded quota`), now)
	c := getCondition(st, appsv1.ReplicaSetReplicaFailure)
	if c == nil || c.Reason != "FailedCreate" || c.Status != corev1.ConditionTrue {
		t.Fatalf("ReplicaFailure condition = %+v, want FailedCreate True", c)
	}
	rs.Status = st
	st = calculateStatus(rs, pods, nil, now)
	if getCondition(st, appsv1.ReplicaSetReplicaFailure) != nil {
		t.Errorf("ReplicaFailure kept after a clean sync: %+v", st.Conditions)
	}
}

// fakePodControl records creates and deletes instead of calling the API.
type fakePodControl struct {
	mu       sync.Mutex
	created  int
	deleted  []string
	failFrom int // creates fail from this call on (0: never)
}

func (f *fakePodControl) CreatePod(_ context.Context, _ string, tmpl *corev1.PodTemplateSpec, _ runtime.Object, ref *metav1.OwnerReference, _ func(*corev1.Pod)) (*corev1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created++
	if f.failFrom > 0 && f.created >= f.failFrom {
		return nil, fmt.Errorf("exceeded quota")
	}
	return ctrlutil.PodFromTemplate(tmpl, ref), nil
}

func (f *fakePodControl) DeletePod(_ context.Context, _, name string, _ types.UID, _ runtime.Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, name)
	return nil
}

type fixture struct {
	c  *Controller
	pc *fakePodControl
	cs *fake.Clientset
}

func newFixture(t *testing.T, rs *appsv1.ReplicaSet, pods ...*corev1.Pod) *fixture {
	objs := []runtime.Object{rs}
	for _, p := range pods {
		objs = append(objs, p)
	}
	cs := fake.NewSimpleClientset(objs...)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(cs, inf, record.NewFakeRecorder(100), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	pc := &fakePodControl{}
	c.podControl = pc
	c.clock = clocktesting.NewFakeClock(now)
	if err := inf.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(rs); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if err := inf.Core().V1().Pods().Informer().GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{c: c, pc: pc, cs: cs}
}

func TestSyncCreatesAndDeletes(t *testing.T) {
	rs := newRS("web", 3)
	f := newFixture(t, rs, newPod("p1", rs, corev1.PodRunning, true, "n1", now))
	if err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if f.pc.created != 2 {
		t.Errorf("created %d pods, want 2", f.pc.created)
	}
	// Expectations now block a second round until the informer sees the pods.
	if err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if f.pc.created != 2 {
		t.Errorf("second sync with unmet expectations created pods: %d, want 2", f.pc.created)
	}

	small := newRS("small", 1)
	f = newFixture(t, small,
		newPod("ready", small, corev1.PodRunning, true, "n1", now.Add(-time.Hour)),
		newPod("pending", small, corev1.PodPending, false, "n1", now),
		newPod("failed", small, corev1.PodFailed, false, "n1", now))
	if err := f.c.sync(context.Background(), "default/small"); err != nil {
		t.Fatal(err)
	}
	if len(f.pc.deleted) != 1 || f.pc.deleted[0] != "pending" {
		t.Errorf("deleted %v, want [pending] (failed pods don't count)", f.pc.deleted)
	}
}

func TestSyncReportsCreateFailure(t *testing.T) {
	rs := newRS("web", 8)
	f := newFixture(t, rs)
	f.pc.failFrom = 2
	if err := f.c.sync(context.Background(), "default/web"); err == nil {
		t.Fatal("sync() = nil, want the create error")
	}
	// Slow start: 1 succeeds, the batch of 2 fails, nothing more is tried.
	if f.pc.created != 3 {
		t.Errorf("attempted %d creates, want 3 (slow start stops after the failing batch)", f.pc.created)
	}
	got, err := f.cs.AppsV1().ReplicaSets("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := getCondition(got.Status, appsv1.ReplicaSetReplicaFailure); c == nil || c.Reason != "FailedCreate" {
		t.Errorf("status conditions = %+v, want ReplicaFailure/FailedCreate", got.Status.Conditions)
	}
	if got.Status.ObservedGeneration != 2 {
		t.Errorf("observedGeneration = %d, want 2", got.Status.ObservedGeneration)
	}
}

func TestSyncAdoptsOrphans(t *testing.T) {
	rs := newRS("web", 1)
	orphan := newPod("orphan", &appsv1.ReplicaSet{Spec: rs.Spec}, corev1.PodRunning, true, "n1", now)
	f := newFixture(t, rs, orphan)
	if err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if f.pc.created != 0 {
		t.Errorf("created %d pods, want 0: the orphan should be adopted", f.pc.created)
	}
	var patched bool
	for _, a := range f.cs.Actions() {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "pods" {
			patched = true
		}
	}
	if !patched {
		t.Errorf("no patch of the orphan's ownerReferences; actions: %v", f.cs.Actions())
	}
}
