package hpa

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

type fakeMetrics struct {
	m   podMetrics
	err error
}

func (f fakeMetrics) resourceMetrics(context.Context, corev1.ResourceName, string, string, labels.Selector) (podMetrics, error) {
	return f.m, f.err
}

type fakeScales struct {
	scale   *autoscalingv1.Scale
	getErr  error
	updated []int32
}

func (f *fakeScales) getScale(context.Context, string, autoscalingv2.CrossVersionObjectReference) (*autoscalingv1.Scale, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	return f.scale.DeepCopy(), nil
}

func (f *fakeScales) updateScale(_ context.Context, _ string, _ autoscalingv2.CrossVersionObjectReference, s *autoscalingv1.Scale) error {
	f.updated = append(f.updated, s.Spec.Replicas)
	f.scale.Spec.Replicas = s.Spec.Replicas
	return nil
}

type fixture struct {
	c        *Controller
	client   *fake.Clientset
	scales   *fakeScales
	recorder *record.FakeRecorder
	clock    time.Time
}

// newFixture has HPA default/web (cpu 50%, 1..3) on Deployment web at
// replicas, with the given pods in the cache and metrics from m.
func newFixture(t *testing.T, replicas int32, podList []*corev1.Pod, m fakeMetrics) *fixture {
	t.Helper()
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Generation: 1},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr(int32(1)), MaxReplicas: 3,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(50))}}}},
		},
	}
	client := fake.NewClientset(hpa)
	inf := informers.NewSharedInformerFactory(client, 0)
	f := &fixture{client: client, recorder: record.NewFakeRecorder(20), clock: now,
		scales: &fakeScales{scale: &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: replicas}, Status: autoscalingv1.ScaleStatus{Replicas: replicas, Selector: "app=web"}}}}
	c, err := New(client, inf, f.recorder, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.metrics, c.scales, c.now = m, f.scales, func() time.Time { return f.clock }
	if err := inf.Autoscaling().V2().HorizontalPodAutoscalers().Informer().GetIndexer().Add(hpa); err != nil {
		t.Fatal(err)
	}
	for _, p := range podList {
		if err := inf.Core().V1().Pods().Informer().GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	f.c = c
	return f
}

// sync runs one sync and returns the status written (the cached one if
// none was) and the events.
func (f *fixture) sync(t *testing.T) (autoscalingv2.HorizontalPodAutoscalerStatus, []string) {
	t.Helper()
	f.client.ClearActions()
	if err := f.c.sync(context.Background(), "default/web"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	var events []string
	for len(f.recorder.Events) > 0 {
		events = append(events, <-f.recorder.Events)
	}
	cur, err := f.client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cur.Status, events
}

func condition(st autoscalingv2.HorizontalPodAutoscalerStatus, t autoscalingv2.HorizontalPodAutoscalerConditionType) string {
	for _, c := range st.Conditions {
		if c.Type == t {
			return string(c.Status) + "/" + c.Reason
		}
	}
	return ""
}

func TestSyncScalesUpToMax(t *testing.T) {
	f := newFixture(t, 1, pods(1, "100m"), fakeMetrics{m: usage(1000)})
	st, events := f.sync(t)
	if len(f.scales.updated) != 1 || f.scales.updated[0] != 3 {
		t.Fatalf("scale updates = %v, want [3]", f.scales.updated)
	}
	want := "Normal SuccessfulRescale New size: 3; reason: cpu resource utilization (percentage of request) above target"
	if len(events) != 1 || events[0] != want {
		t.Errorf("events = %q, want %q", events, want)
	}
	if st.CurrentReplicas != 1 || st.DesiredReplicas != 3 || st.LastScaleTime == nil || !st.LastScaleTime.Time.Equal(now) {
		t.Errorf("status current %d desired %d lastScaleTime %v; want 1, 3, now", st.CurrentReplicas, st.DesiredReplicas, st.LastScaleTime)
	}
	if len(st.CurrentMetrics) != 1 || st.CurrentMetrics[0].Resource == nil || *st.CurrentMetrics[0].Resource.Current.AverageUtilization != 1000 ||
		st.CurrentMetrics[0].Resource.Current.AverageValue.String() != "1" {
		t.Errorf("currentMetrics = %+v, want cpu 1000%% (1 core)", st.CurrentMetrics)
	}
	for typ, want := range map[autoscalingv2.HorizontalPodAutoscalerConditionType]string{
		autoscalingv2.AbleToScale:    "True/SucceededRescale",
		autoscalingv2.ScalingActive:  "True/ValidMetricFound",
		autoscalingv2.ScalingLimited: "True/TooManyReplicas",
	} {
		if got := condition(st, typ); got != want {
			t.Errorf("%s = %s, want %s", typ, got, want)
		}
	}
	if got := f.c.worker.Queue.Len(); got != 0 {
		t.Errorf("queue has %d ready items; the next sync must wait for the resync", got)
	}
}

func TestSyncWithoutMetricsKeepsReplicas(t *testing.T) {
	f := newFixture(t, 2, pods(2, "100m"), fakeMetrics{err: errNoMetrics})
	st, events := f.sync(t)
	if len(f.scales.updated) != 0 {
		t.Fatalf("scaled to %v without metrics", f.scales.updated)
	}
	if got := condition(st, autoscalingv2.ScalingActive); got != "False/FailedGetResourceMetric" {
		t.Errorf("ScalingActive = %s", got)
	}
	if st.CurrentReplicas != 2 {
		t.Errorf("currentReplicas = %d, want 2", st.CurrentReplicas)
	}
	joined := strings.Join(events, "\n")
	for _, want := range []string{"Warning FailedGetResourceMetric failed to get cpu resource metric value: unable to get metrics for resource cpu: no metrics returned from resource metrics API",
		"Warning FailedComputeMetricsReplicas invalid metrics (1 invalid out of 1)"} {
		if !strings.Contains(joined, want) {
			t.Errorf("events lack %q:\n%s", want, joined)
		}
	}
}

func TestSyncScaleDownWaitsForStabilization(t *testing.T) {
	f := newFixture(t, 3, pods(3, "100m"), fakeMetrics{m: usage(5, 5, 5)})
	st, _ := f.sync(t)
	if len(f.scales.updated) != 0 {
		t.Fatalf("scaled down to %v at once; the window must hold it", f.scales.updated)
	}
	if got := condition(st, autoscalingv2.AbleToScale); got != "True/ScaleDownStabilized" {
		t.Errorf("AbleToScale = %s, want True/ScaleDownStabilized", got)
	}
	f.clock = now.Add(301 * time.Second)
	_, events := f.sync(t)
	if len(f.scales.updated) != 1 || f.scales.updated[0] != 1 {
		t.Fatalf("scale updates = %v, want [1] after the window", f.scales.updated)
	}
	if want := "Normal SuccessfulRescale New size: 1; reason: All metrics below target"; len(events) != 1 || events[0] != want {
		t.Errorf("events = %q, want %q", events, want)
	}
}

func TestSyncTargetStates(t *testing.T) {
	tests := []struct {
		name       string
		replicas   int32
		getErr     error
		wantUpdate []int32
		wantCond   autoscalingv2.HorizontalPodAutoscalerConditionType
		want       string
	}{
		{"target missing", 1, apierrors.NewNotFound(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web"), nil, autoscalingv2.AbleToScale, "False/FailedGetScale"},
		{"scaled to zero by hand", 0, nil, nil, autoscalingv2.ScalingActive, "False/ScalingDisabled"},
		{"above maxReplicas", 5, nil, []int32{3}, autoscalingv2.AbleToScale, "True/SucceededRescale"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.replicas, pods(1, "100m"), fakeMetrics{m: usage(50)})
			f.scales.getErr = tc.getErr
			st, _ := f.sync(t)
			if len(f.scales.updated) != len(tc.wantUpdate) || (len(tc.wantUpdate) > 0 && f.scales.updated[0] != tc.wantUpdate[0]) {
				t.Errorf("scale updates = %v, want %v", f.scales.updated, tc.wantUpdate)
			}
			if got := condition(st, tc.wantCond); got != tc.want {
				t.Errorf("%s = %s, want %s", tc.wantCond, got, tc.want)
			}
		})
	}
}

func TestSyncUnsupportedMetricType(t *testing.T) {
	f := newFixture(t, 2, pods(2, "100m"), fakeMetrics{m: usage(5, 5)})
	hpa, _ := f.c.hpas.HorizontalPodAutoscalers("default").Get("web")
	hpa.Spec.Metrics = append(hpa.Spec.Metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType})
	st, _ := f.sync(t)
	if len(f.scales.updated) != 0 {
		t.Errorf("scaled to %v while one metric is unknown and the other would scale down", f.scales.updated)
	}
	if got := condition(st, autoscalingv2.ScalingActive); got != "False/FailedGetPodsMetric" {
		t.Errorf("ScalingActive = %s, want False/FailedGetPodsMetric", got)
	}
}

func TestSyncContainerResource(t *testing.T) {
	p := testPod("p0", "100m")
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar"}) // no request: only c counts
	f := newFixture(t, 1, []*corev1.Pod{p}, fakeMetrics{m: usage(200)})
	hpa, _ := f.c.hpas.HorizontalPodAutoscalers("default").Get("web")
	hpa.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ContainerResourceMetricSourceType,
		ContainerResource: &autoscalingv2.ContainerResourceMetricSource{Name: corev1.ResourceCPU, Container: "c",
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(50))}}}}
	st, events := f.sync(t)
	if len(f.scales.updated) != 1 || f.scales.updated[0] != 3 {
		t.Fatalf("scale updates = %v, want [3]", f.scales.updated)
	}
	want := "Normal SuccessfulRescale New size: 3; reason: cpu container resource utilization (percentage of request) above target"
	if len(events) != 1 || events[0] != want {
		t.Errorf("events = %q, want %q", events, want)
	}
	if len(st.CurrentMetrics) != 1 || st.CurrentMetrics[0].ContainerResource == nil || st.CurrentMetrics[0].ContainerResource.Container != "c" ||
		*st.CurrentMetrics[0].ContainerResource.Current.AverageUtilization != 200 {
		t.Errorf("currentMetrics = %+v, want container c at 200%%", st.CurrentMetrics)
	}
}

func TestSyncWithoutMetricSpecs(t *testing.T) {
	f := newFixture(t, 2, pods(2, "100m"), fakeMetrics{m: usage(50, 50)})
	hpa, _ := f.c.hpas.HorizontalPodAutoscalers("default").Get("web")
	hpa.Spec.Metrics = nil
	st, _ := f.sync(t)
	if len(f.scales.updated) != 0 {
		t.Errorf("scaled to %v with no metrics", f.scales.updated)
	}
	if got := condition(st, autoscalingv2.ScalingActive); got != "False/InvalidMetricSourceType" {
		t.Errorf("ScalingActive = %s", got)
	}
}
