package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestPriority(t *testing.T) {
	never := corev1.PreemptNever
	high := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000, PreemptionPolicy: &never}
	dflt := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "base"}, Value: 10, GlobalDefault: true}
	seven := int32(7)
	tests := []struct {
		name      string
		classes   []runtime.Object
		className string
		priority  *int32
		want      int32
		wantClass string
		wantErr   string
	}{
		{"no classes", nil, "", nil, 0, "", ""},
		{"global default", []runtime.Object{high, dflt}, "", nil, 10, "base", ""},
		{"named class", []runtime.Object{high}, "high", nil, 1000, "high", ""},
		{"system class", nil, "system-node-critical", nil, 2000001000, "system-node-critical", ""},
		{"missing class", nil, "nope", nil, 0, "", `pods "a" is forbidden: no PriorityClass with name nope was found`},
		{"client-set value", nil, "", &seven, 0, "",
			`pods "a" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := newTestPlugins(t, tc.classes...)
			po := pod("default", "a")
			po.Spec.PriorityClassName, po.Spec.Priority = tc.className, tc.priority
			_, msg := statusOf(t, p.Admit(context.Background(), create(po, "pods")))
			if msg != tc.wantErr {
				t.Fatalf("Admit message = %q, want %q", msg, tc.wantErr)
			}
			if tc.wantErr != "" {
				return
			}
			if *po.Spec.Priority != tc.want || po.Spec.PriorityClassName != tc.wantClass {
				t.Errorf("priority %d class %q, want %d %q", *po.Spec.Priority, po.Spec.PriorityClassName, tc.want, tc.wantClass)
			}
			if tc.className == "high" && *po.Spec.PreemptionPolicy != corev1.PreemptNever {
				t.Errorf("preemptionPolicy %s, want Never from the class", *po.Spec.PreemptionPolicy)
			}
		})
	}
}
