package apiserver

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func ptr[T any](v T) *T { return &v }

func TestDeletionMark(t *testing.T) {
	scheduled := func() *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{NodeName: "n1", TerminationGracePeriodSeconds: ptr[int64](30)}}
	}
	deleting := func(grace int64) *corev1.Pod {
		p := scheduled()
		ts := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
		p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &grace
		return p
	}
	background, orphan, foreground := metav1.DeletePropagationBackground, metav1.DeletePropagationOrphan, metav1.DeletePropagationForeground
	tests := []struct {
		name       string
		obj        runtime.Object
		opts       metav1.DeleteOptions
		mark       bool
		changed    bool // next != nil
		grace      int64
		finalizers []string
	}{
		{"unscheduled pod goes at once", &corev1.Pod{}, metav1.DeleteOptions{}, false, false, 0, nil},
		{"scheduled pod waits for its kubelet", scheduled(), metav1.DeleteOptions{}, true, true, 30, nil},
		{"explicit grace period", scheduled(), metav1.DeleteOptions{GracePeriodSeconds: ptr[int64](5)}, true, true, 5, nil},
		{"force delete of a scheduled pod", scheduled(), metav1.DeleteOptions{GracePeriodSeconds: ptr[int64](0)}, false, false, 0, nil},
		{"finished pod goes at once", func() *corev1.Pod { p := scheduled(); p.Status.Phase = corev1.PodSucceeded; return p }(), metav1.DeleteOptions{}, false, false, 0, nil},
		{"kubelet finishes a terminating pod", deleting(30), metav1.DeleteOptions{GracePeriodSeconds: ptr[int64](0)}, false, false, 0, nil},
		{"a longer grace period changes nothing", deleting(10), metav1.DeleteOptions{GracePeriodSeconds: ptr[int64](60)}, true, false, 0, nil},
		{"a shorter grace period shortens", deleting(30), metav1.DeleteOptions{GracePeriodSeconds: ptr[int64](3)}, true, true, 3, nil},
		{"configmap, background", &corev1.ConfigMap{}, metav1.DeleteOptions{PropagationPolicy: &background}, false, false, 0, nil},
		{"configmap with a finalizer", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{"x/y"}}}, metav1.DeleteOptions{}, true, true, 0, []string{"x/y"}},
		{"orphan", &corev1.ConfigMap{}, metav1.DeleteOptions{PropagationPolicy: &orphan}, true, true, 0, []string{metav1.FinalizerOrphanDependents}},
		{"foreground", &corev1.ConfigMap{}, metav1.DeleteOptions{PropagationPolicy: &foreground}, true, true, 0, []string{metav1.FinalizerDeleteDependents}},
		{"orphanDependents", &corev1.ConfigMap{}, metav1.DeleteOptions{OrphanDependents: ptr(true)}, true, true, 0, []string{metav1.FinalizerOrphanDependents}},
		{"namespace waits for its content", &corev1.Namespace{Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}}, metav1.DeleteOptions{}, true, true, 0, nil},
	}
	s := &Server{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, mark := s.deletionMark(tc.obj, &tc.opts)
			if mark != tc.mark || (next != nil) != tc.changed {
				t.Fatalf("mark=%v changed=%v, want %v %v", mark, next != nil, tc.mark, tc.changed)
			}
			if next == nil {
				return
			}
			m := metaOf(next)
			if m.GetDeletionTimestamp() == nil || m.GetDeletionGracePeriodSeconds() == nil || *m.GetDeletionGracePeriodSeconds() != tc.grace {
				t.Errorf("deletionTimestamp %v grace %v, want grace %d", m.GetDeletionTimestamp(), m.GetDeletionGracePeriodSeconds(), tc.grace)
			}
			if got := m.GetFinalizers(); len(got) != len(tc.finalizers) || (len(got) > 0 && got[len(got)-1] != tc.finalizers[len(tc.finalizers)-1]) {
				t.Errorf("finalizers %v, want %v", got, tc.finalizers)
			}
			if ns, ok := next.(*corev1.Namespace); ok && ns.Status.Phase != corev1.NamespaceTerminating {
				t.Errorf("namespace phase %q, want Terminating", ns.Status.Phase)
			}
			if metaOf(tc.obj).GetDeletionTimestamp() == nil && tc.obj == next {
				t.Error("the current object was changed in place")
			}
		})
	}
}

func TestDeletable(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name string
		obj  runtime.Object
		want bool
	}{
		{"not deleting", &corev1.ConfigMap{}, false},
		{"deleting, no finalizers", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}}, true},
		{"deleting, finalizer left", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now, Finalizers: []string{"a"}}}, false},
		{"pod in its grace period", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now, DeletionGracePeriodSeconds: ptr[int64](30)}, Spec: corev1.PodSpec{NodeName: "n"}}, false},
		{"namespace with content finalizer", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}}, false},
		{"namespace finalized", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}}, true},
	}
	for _, tc := range tests {
		if got := deletable(tc.obj); got != tc.want {
			t.Errorf("%s: deletable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
