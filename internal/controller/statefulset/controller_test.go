package statefulset

import (
	"context"
	"log/slog"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func newSet(n int32, policy appsv1.PodManagementPolicyType) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", UID: "db-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &n, ServiceName: "db", PodManagementPolicy: policy,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
		},
	}
}

func setPod(set *appsv1.StatefulSet, ord int, hash string, healthy bool) *corev1.Pod {
	p := newPod(set, &set.Spec.Template, hash, ord)
	p.UID = types.UID(p.Name)
	p.Status.Phase = corev1.PodPending
	if healthy {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	return p
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestPlan(t *testing.T) {
	ordered := newSet(3, appsv1.OrderedReadyPodManagement)
	parallel := newSet(3, appsv1.ParallelPodManagement)
	partitioned := newSet(3, appsv1.OrderedReadyPodManagement)
	partitioned.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(2))}}
	tests := []struct {
		name        string
		set         *appsv1.StatefulSet
		pods        []*corev1.Pod
		wantCreate  []int
		wantDeletes []string
	}{
		{"ordered: first pod only", ordered, nil, []int{0}, nil},
		{"ordered: waits for pod 0 to be ready", ordered, []*corev1.Pod{setPod(ordered, 0, "v1", false)}, nil, nil},
		{"ordered: next ordinal once ready", ordered, []*corev1.Pod{setPod(ordered, 0, "v1", true)}, []int{1}, nil},
		{"parallel: all at once", parallel, nil, []int{0, 1, 2}, nil},
		{"scale down from the top", ordered, []*corev1.Pod{setPod(ordered, 0, "v1", true), setPod(ordered, 1, "v1", true), setPod(ordered, 2, "v1", true), setPod(ordered, 3, "v1", true), setPod(ordered, 4, "v1", true)}, nil, []string{"db-4"}},
		{"rolling update from the highest ordinal", ordered, []*corev1.Pod{setPod(ordered, 0, "v1", true), setPod(ordered, 1, "v1", true), setPod(ordered, 2, "v1", true)}, nil, []string{"db-2"}},
		{"rolling update continues downwards", ordered, []*corev1.Pod{setPod(ordered, 0, "v1", true), setPod(ordered, 1, "v1", true), setPod(ordered, 2, "v2", true)}, nil, []string{"db-1"}},
		{"partition stops the update", partitioned, []*corev1.Pod{setPod(partitioned, 0, "v1", true), setPod(partitioned, 1, "v1", true), setPod(partitioned, 2, "v2", true)}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			creates, deletes := plan(tc.set, tc.pods, "v2")
			if len(creates) != len(tc.wantCreate) || len(deletes) != len(tc.wantDeletes) {
				t.Fatalf("plan() = %v, %v; want %v, %v", creates, names(deletes), tc.wantCreate, tc.wantDeletes)
			}
			for i := range creates {
				if creates[i] != tc.wantCreate[i] {
					t.Errorf("creates = %v, want %v", creates, tc.wantCreate)
				}
			}
			for i, d := range names(deletes) {
				if d != tc.wantDeletes[i] {
					t.Errorf("deletes = %v, want %v", names(deletes), tc.wantDeletes)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSyncCreatesFirstPodWithClaim(t *testing.T) {
	set := newSet(2, appsv1.OrderedReadyPodManagement)
	cs := fake.NewSimpleClientset(set)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(cs, inf, record.NewFakeRecorder(10), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := inf.Apps().V1().StatefulSets().Informer().GetIndexer().Add(set); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.sync(ctx, "default/db"); err != nil {
		t.Fatal(err)
	}
	pod, err := cs.CoreV1().Pods("default").Get(ctx, "db-0", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("pod db-0: %v", err)
	}
	if pod.Spec.Hostname != "db-0" || pod.Spec.Subdomain != "db" || pod.Labels[appsv1.StatefulSetPodNameLabel] != "db-0" {
		t.Errorf("pod identity hostname=%q subdomain=%q labels=%v", pod.Spec.Hostname, pod.Spec.Subdomain, pod.Labels)
	}
	if len(pod.Spec.Volumes) != 1 || pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-db-0" {
		t.Errorf("pod volumes %+v, want claim data-db-0", pod.Spec.Volumes)
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data-db-0", metav1.GetOptions{}); err != nil {
		t.Errorf("claim data-db-0: %v", err)
	}
	if _, err := cs.CoreV1().Pods("default").Get(ctx, "db-1", metav1.GetOptions{}); err == nil {
		t.Errorf("db-1 created before db-0 is ready")
	}
	got, _ := cs.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{})
	if got.Status.UpdateRevision == "" || got.Status.ObservedGeneration != 1 {
		t.Errorf("status %+v, want updateRevision and observedGeneration 1", got.Status)
	}
}
