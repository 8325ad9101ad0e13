package deployment

import (
	"context"
	"log/slog"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestResolveFenceposts(t *testing.T) {
	tests := []struct {
		name                   string
		surge, unavail         intstr.IntOrString
		desired                int32
		wantSurge, wantUnavail int32
	}{
		{"defaults 25% of 10 round surge up and unavailable down", intstr.FromString("25%"), intstr.FromString("25%"), 10, 3, 2},
		{"ints pass through", intstr.FromInt32(2), intstr.FromInt32(1), 5, 2, 1},
		{"both zero allows one unavailable", intstr.FromInt32(0), intstr.FromInt32(0), 3, 0, 1},
		{"25% of 1", intstr.FromString("25%"), intstr.FromString("25%"), 1, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, u, err := resolveFenceposts(&tc.surge, &tc.unavail, tc.desired)
			if err != nil || s != tc.wantSurge || u != tc.wantUnavail {
				t.Errorf("resolveFenceposts(%v, %v, %d) = %d, %d, %v; want %d, %d", tc.surge.String(), tc.unavail.String(), tc.desired, s, u, err, tc.wantSurge, tc.wantUnavail)
			}
		})
	}
}

func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	surge, unavail := intstr.FromString("25%"), intstr.FromString("25%")
	pds, hist := int32(600), int32(10)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}},
			ProgressDeadlineSeconds: &pds,
			RevisionHistoryLimit:    &hist,
		},
	}
}

// rsFor builds the ReplicaSet the controller would have made for d's
// current template, with size replicas all available, at revision rev.
func rsFor(d *appsv1.Deployment, size int32, rev string, created time.Time) *appsv1.ReplicaSet {
	hash := ctrlutil.ComputeHash(&d.Spec.Template, nil)
	tmpl := *d.Spec.Template.DeepCopy()
	tmpl.Labels[PodTemplateHashLabel] = hash
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: "default", UID: types.UID(hash), Labels: tmpl.Labels,
			CreationTimestamp: metav1.NewTime(created),
			OwnerReferences:   []metav1.OwnerReference{*ctrlutil.NewControllerRef(d, kind)},
			Annotations:       map[string]string{RevisionAnnotation: rev, DesiredReplicasAnnotation: "4", MaxReplicasAnnotation: "5"},
		},
		Spec:   appsv1.ReplicaSetSpec{Replicas: &size, Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl},
		Status: appsv1.ReplicaSetStatus{Replicas: size, ReadyReplicas: size, AvailableReplicas: size},
	}
}

func newFixture(t *testing.T, d *appsv1.Deployment, rss ...*appsv1.ReplicaSet) (*Controller, *fake.Clientset) {
	objs := []runtime.Object{d}
	for _, rs := range rss {
		objs = append(objs, rs)
	}
	cs := fake.NewSimpleClientset(objs...)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(cs, inf, record.NewFakeRecorder(100), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c.clock = clocktesting.NewFakeClock(now)
	if err := inf.Apps().V1().Deployments().Informer().GetIndexer().Add(d); err != nil {
		t.Fatal(err)
	}
	for _, rs := range rss {
		if err := inf.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(rs); err != nil {
			t.Fatal(err)
		}
	}
	return c, cs
}

func listRS(t *testing.T, cs *fake.Clientset) map[string]*appsv1.ReplicaSet {
	l, err := cs.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*appsv1.ReplicaSet{}
	for i := range l.Items {
		out[l.Items[i].Name] = &l.Items[i]
	}
	return out
}

func TestSyncCreatesFirstReplicaSet(t *testing.T) {
	d := newDeployment("hello", 3, "kubetm/hello")
	c, cs := newFixture(t, d)
	if err := c.sync(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	hash := ctrlutil.ComputeHash(&d.Spec.Template, nil)
	rs, ok := listRS(t, cs)["hello-"+hash]
	if !ok {
		t.Fatalf("no replica set hello-%s; have %v", hash, listRS(t, cs))
	}
	if replicasOf(rs) != 3 || rs.Annotations[RevisionAnnotation] != "1" ||
		rs.Annotations[DesiredReplicasAnnotation] != "3" || rs.Annotations[MaxReplicasAnnotation] != "4" {
		t.Errorf("new rs replicas=%d annotations=%v, want 3, revision 1, desired 3, max 4", replicasOf(rs), rs.Annotations)
	}
	if rs.Spec.Template.Labels[PodTemplateHashLabel] != hash || rs.Spec.Selector.MatchLabels[PodTemplateHashLabel] != hash {
		t.Errorf("pod-template-hash missing from template labels or selector: %v / %v", rs.Spec.Template.Labels, rs.Spec.Selector)
	}
	got, _ := cs.AppsV1().Deployments("default").Get(context.Background(), "hello", metav1.GetOptions{})
	if cond := getCondition(got.Status, appsv1.DeploymentProgressing); cond == nil || cond.Reason != NewReplicaSetReason {
		t.Errorf("Progressing = %+v, want reason %s", cond, NewReplicaSetReason)
	}
	if got.Annotations[RevisionAnnotation] != "1" {
		t.Errorf("deployment revision = %q, want 1", got.Annotations[RevisionAnnotation])
	}
}

func TestRollingUpdateRespectsSurge(t *testing.T) {
	d := newDeployment("hello", 4, "v1")
	old := rsFor(d, 4, "1", now.Add(-time.Hour))
	d.Spec.Template.Spec.Containers[0].Image = "v2"
	d.Generation = 2
	c, cs := newFixture(t, d, old)
	if err := c.sync(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	all := listRS(t, cs)
	newRS := all["hello-"+ctrlutil.ComputeHash(&d.Spec.Template, nil)]
	if newRS == nil {
		t.Fatalf("no new replica set; have %v", all)
	}
	// maxSurge 25% of 4 = 1: the new RS may only start with one pod.
	if replicasOf(newRS) != 1 || newRS.Annotations[RevisionAnnotation] != "2" {
		t.Errorf("new rs replicas=%d revision=%s, want 1 and 2", replicasOf(newRS), newRS.Annotations[RevisionAnnotation])
	}
	// maxUnavailable 25% of 4 = 1: one old pod may go at once, as upstream.
	if replicasOf(all[old.Name]) != 3 {
		t.Errorf("old rs scaled to %d, want 3", replicasOf(all[old.Name]))
	}
}

func TestRolloutScalesOldDownWithinMaxUnavailable(t *testing.T) {
	d := newDeployment("hello", 4, "v1")
	old := rsFor(d, 4, "1", now.Add(-time.Hour))
	d.Spec.Template.Spec.Containers[0].Image = "v2"
	newRS := rsFor(d, 1, "2", now)
	newRS.Status = appsv1.ReplicaSetStatus{Replicas: 1} // not available yet
	c, cs := newFixture(t, d, old, newRS)
	if err := c.sync(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	// 5 pods, minAvailable 3, 1 new unavailable: old may lose 1.
	if got := replicasOf(listRS(t, cs)[old.Name]); got != 3 {
		t.Errorf("old rs replicas = %d, want 3", got)
	}
}

func TestRollbackReusesOldReplicaSet(t *testing.T) {
	d := newDeployment("hello", 2, "v1")
	v1 := rsFor(d, 0, "1", now.Add(-2*time.Hour))
	d2 := newDeployment("hello", 2, "v2")
	v2 := rsFor(d2, 2, "2", now.Add(-time.Hour))
	// kubectl rollout undo patched the template back to v1.
	c, cs := newFixture(t, d, v1, v2)
	if err := c.sync(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	all := listRS(t, cs)
	if len(all) != 2 {
		t.Fatalf("replica sets %v, want the two existing ones", all)
	}
	if rev, hist := all[v1.Name].Annotations[RevisionAnnotation], all[v1.Name].Annotations[RevisionHistoryAnnotation]; rev != "3" || hist != "1" {
		t.Errorf("reused rs revision=%q history=%q, want 3 and 1", rev, hist)
	}
}

func TestProgressDeadline(t *testing.T) {
	d := newDeployment("hello", 2, "v2")
	pds := int32(10)
	d.Spec.ProgressDeadlineSeconds = &pds
	newRS := rsFor(d, 1, "2", now)
	newRS.Status = appsv1.ReplicaSetStatus{Replicas: 1}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 2,
		Conditions: []appsv1.DeploymentCondition{newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReplicaSetUpdatedReason, "", now.Add(-11*time.Second))}}
	oldRS := rsFor(newDeployment("hello", 2, "v1"), 2, "1", now.Add(-time.Hour))
	all := []*appsv1.ReplicaSet{oldRS, newRS}
	st := rolloutStatus(d, all, newRS, now)
	c := getCondition(st, appsv1.DeploymentProgressing)
	if c == nil || c.Reason != TimedOutReason || c.Status != corev1.ConditionFalse {
		t.Fatalf("Progressing = %+v, want False/%s", c, TimedOutReason)
	}
	if want := `ReplicaSet "` + newRS.Name + `" has timed out progressing.`; c.Message != want {
		t.Errorf("message = %q, want %q", c.Message, want)
	}
	st = rolloutStatus(d, all, newRS, now.Add(-5*time.Second))
	if c := getCondition(st, appsv1.DeploymentProgressing); c.Reason != ReplicaSetUpdatedReason {
		t.Errorf("before the deadline Progressing reason = %s, want %s", c.Reason, ReplicaSetUpdatedReason)
	}
}

func TestProportionalScaling(t *testing.T) {
	d := newDeployment("hello", 10, "v2")
	old := rsFor(newDeployment("hello", 10, "v1"), 8, "1", now.Add(-time.Hour))
	newRS := rsFor(d, 5, "2", now)
	for _, rs := range []*appsv1.ReplicaSet{old, newRS} {
		rs.Annotations[DesiredReplicasAnnotation] = "10"
		rs.Annotations[MaxReplicasAnnotation] = "13"
	}
	// Scaled 10 -> 20 mid-rollout: 13 pods allowed before, 25 now.
	d.Spec.Replicas = ptr(int32(20))
	c, cs := newFixture(t, d, old, newRS)
	if err := c.sync(context.Background(), "default/hello"); err != nil {
		t.Fatal(err)
	}
	all := listRS(t, cs)
	o, n := replicasOf(all[old.Name]), replicasOf(all[newRS.Name])
	if o+n != 25 || o != 15 || n != 10 {
		t.Errorf("after 10->20 old=%d new=%d, want 15 and 10 (proportional to 8:5, sum 25)", o, n)
	}
}

func ptr[T any](v T) *T { return &v }
