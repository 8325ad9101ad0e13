package hpa

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// testPod is a running pod started 10 minutes ago, ready since, with one
// container requesting request of cpu and memory (empty: no request).
func testPod(name string, request string, opts ...func(*corev1.Pod)) *corev1.Pod {
	started := metav1.NewTime(now.Add(-10 * time.Minute))
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started}}},
	}
	if request != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(request), corev1.ResourceMemory: resource.MustParse("100Mi")}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func pending(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }
func failed(p *corev1.Pod)  { p.Status.Phase = corev1.PodFailed }
func deleted(p *corev1.Pod) { t := metav1.NewTime(now); p.DeletionTimestamp = &t }

// startingUnready started 1 minute ago and is not ready yet.
func startingUnready(p *corev1.Pod) {
	t := metav1.NewTime(now.Add(-time.Minute))
	p.Status.StartTime = &t
	p.Status.Conditions[0] = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: t}
}

// justReady started 1 minute ago and became ready 5 s ago: its sample
// window began before it was ready.
func justReady(p *corev1.Pod) {
	t := metav1.NewTime(now.Add(-time.Minute))
	p.Status.StartTime = &t
	p.Status.Conditions[0] = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-5 * time.Second))}
}

func pods(n int, request string, opts ...func(*corev1.Pod)) []*corev1.Pod {
	var out []*corev1.Pod
	for i := 0; i < n; i++ {
		out = append(out, testPod(fmt.Sprintf("p%d", i), request, opts...))
	}
	return out
}

// usage gives pods p0..pN-1 the milli-values listed, sampled just now over 15 s.
func usage(milli ...int64) podMetrics {
	m := podMetrics{}
	for i, v := range milli {
		m[fmt.Sprintf("p%d", i)] = podMetric{value: v, timestamp: now, window: 15 * time.Second}
	}
	return m
}

func pct(v int32) resourceTarget { return resourceTarget{utilization: &v} }
func avg(q string) resourceTarget {
	parsed := resource.MustParse(q)
	v := parsed.MilliValue()
	return resourceTarget{averageValue: &v}
}

func TestResourceReplicas(t *testing.T) {
	tests := []struct {
		name     string
		current  int32
		res      corev1.ResourceName
		target   resourceTarget
		pods     []*corev1.Pod
		metrics  podMetrics
		want     int32
		wantUtil int32
		wantErr  string
	}{
		{"scale up: 90% of request against 50%", 3, corev1.ResourceCPU, pct(50), pods(3, "1"), usage(900, 900, 900), 6, 90, ""},
		{"within tolerance: 52% against 50%", 3, corev1.ResourceCPU, pct(50), pods(3, "1"), usage(520, 520, 520), 3, 52, ""},
		{"scale down: 10% against 50%", 5, corev1.ResourceCPU, pct(50), pods(5, "1"), usage(100, 100, 100, 100, 100), 1, 10, ""},
		{"busy loop on a 100m request", 1, corev1.ResourceCPU, pct(50), pods(1, "100m"), usage(1000), 20, 1000, ""},
		{"missing pod counts as idle on a scale-up", 4, corev1.ResourceCPU, pct(50), pods(4, "1"), usage(900, 900, 900), 6, 90, ""},
		{"missing pod counts as its full request on a scale-down", 3, corev1.ResourceCPU, pct(50), pods(3, "1"), usage(100, 100), 3, 10, ""},
		{"pending pod counts as idle on a scale-up", 3, corev1.ResourceCPU, pct(50),
			append(pods(2, "1"), testPod("p2", "1", pending)), usage(900, 900), 4, 90, ""},
		{"starting unready pod is not counted as busy", 3, corev1.ResourceCPU, pct(50),
			append(pods(2, "1"), testPod("p2", "1", startingUnready)), usage(900, 900, 1000), 4, 90, ""},
		{"sample from before readiness is not trusted", 3, corev1.ResourceCPU, pct(50),
			append(pods(2, "1"), testPod("p2", "1", justReady)), usage(900, 900, 1000), 4, 90, ""},
		{"unready memory pod still counts", 2, corev1.ResourceMemory, avg("50Mi"),
			append(pods(1, "1"), testPod("p1", "1", startingUnready)), usage(100<<20*1000, 100<<20*1000), 4, 0, ""},
		{"failed and deleted pods are ignored", 2, corev1.ResourceCPU, pct(50),
			append(pods(2, "1"), testPod("p2", "1", failed), testPod("p3", "1", deleted)), usage(250, 250, 900, 900), 1, 25, ""},
		{"average value target", 3, corev1.ResourceMemory, avg("100Mi"), pods(3, "1"), usage(200<<20*1000, 200<<20*1000, 200<<20*1000), 6, 0, ""},
		{"no pods", 1, corev1.ResourceCPU, pct(50), nil, usage(1), 0, 0, "no pods returned by selector"},
		{"no request", 1, corev1.ResourceCPU, pct(50), pods(1, ""), usage(500), 0, 0, "missing request for cpu in container c of Pod p0"},
		{"only unready pods", 2, corev1.ResourceCPU, pct(50), pods(2, "1", pending), usage(900, 900), 0, 0, "did not receive metrics for targeted pods"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tc.metrics)
			got, err := defaultCalculator.resourceReplicas(now, tc.current, tc.res, tc.target, tc.pods, tc.metrics)
			if len(tc.metrics) != before {
				t.Errorf("input metrics were modified")
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got.replicas != tc.want || got.utilization != tc.wantUtil {
				t.Errorf("replicas, utilization = %d, %d%%; want %d, %d%%", got.replicas, got.utilization, tc.want, tc.wantUtil)
			}
		})
	}
}
