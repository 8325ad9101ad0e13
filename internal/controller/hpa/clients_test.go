package hpa

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/berth-dev/berth/internal/metricsapi"
	"github.com/berth-dev/berth/internal/metricsapi/v1beta1"
)

type staticSource []v1beta1.PodMetrics

func (s staticSource) Nodes() []v1beta1.NodeMetrics { return nil }
func (s staticSource) Pods() []v1beta1.PodMetrics   { return s }

func containerUsage(name, cpu string) v1beta1.ContainerMetrics {
	return v1beta1.ContainerMetrics{Name: name, Usage: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("10Mi")}}
}

func podUsage(name string, cs ...v1beta1.ContainerMetrics) v1beta1.PodMetrics {
	return v1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Timestamp: metav1.NewTime(now), Window: metav1.Duration{Duration: 15 * time.Second}, Containers: cs}
}

// TestRESTMetricsAgainstServer reads the metrics API as served by
// internal/metricsapi, through a client-go REST client, so the two ends of
// the wire agree.
func TestRESTMetricsAgainstServer(t *testing.T) {
	src := staticSource{
		podUsage("p0", containerUsage("app", "300m"), containerUsage("sidecar", "50m")),
		podUsage("p1", containerUsage("app", "100m"), containerUsage("sidecar", "50m")),
	}
	srv := httptest.NewServer(metricsapi.New(src, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	m := restMetrics{client.CoreV1().RESTClient()}
	tests := []struct {
		container, selector string
		want                map[string]int64
		wantErr             string
	}{
		{"", "app=web", map[string]int64{"p0": 350, "p1": 150}, ""},
		{"app", "app=web", map[string]int64{"p0": 300, "p1": 100}, ""},
		{"", "app=db", nil, "no metrics returned from resource metrics API"},
		{"db", "app=web", nil, "container db not present in metrics for pod default/p0"},
	}
	for _, tc := range tests {
		sel, _ := labels.Parse(tc.selector)
		got, err := m.resourceMetrics(context.Background(), corev1.ResourceCPU, tc.container, "default", sel)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("container %q selector %q: err = %v, want %q", tc.container, tc.selector, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("container %q: %v", tc.container, err)
		}
		if len(got) != len(tc.want) {
			t.Errorf("container %q: got %v, want %v", tc.container, got, tc.want)
		}
		for name, v := range tc.want {
			if got[name].value != v || got[name].window != 15*time.Second || !got[name].timestamp.Equal(now) {
				t.Errorf("container %q pod %s = %+v, want %dm over 15s at now", tc.container, name, got[name], v)
			}
		}
	}
}

func TestTypedScalesRouting(t *testing.T) {
	tests := []struct {
		apiVersion, kind string
		wantResource     string // resource the scale request went to; "" for an error
	}{
		{"apps/v1", "Deployment", "deployments"},
		{"apps/v1", "ReplicaSet", "replicasets"},
		{"apps/v1", "StatefulSet", "statefulsets"},
		{"extensions/v1beta1", "Deployment", "deployments"},
		{"v1", "ReplicationController", "replicationcontrollers"},
		{"apps/v1", "DaemonSet", ""},
		{"example.com/v1", "Widget", ""},
	}
	for _, tc := range tests {
		client := fake.NewClientset()
		var hit string
		client.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetSubresource() != "scale" {
				return false, nil, nil
			}
			hit = a.GetResource().Resource
			return true, &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 2}}, nil
		})
		s := typedScales{client}
		ref := autoscalingv2.CrossVersionObjectReference{APIVersion: tc.apiVersion, Kind: tc.kind, Name: "x"}
		scale, err := s.getScale(context.Background(), "default", ref)
		if tc.wantResource == "" {
			if err == nil || !strings.Contains(err.Error(), "has no scale subresource") {
				t.Errorf("%s %s: err = %v, want no scale subresource", tc.apiVersion, tc.kind, err)
			}
			continue
		}
		if err != nil || scale.Spec.Replicas != 2 || hit != tc.wantResource {
			t.Errorf("%s %s: scale %v, err %v, went to %q; want %s", tc.apiVersion, tc.kind, scale, err, hit, tc.wantResource)
		}
		hit = ""
		if err := s.updateScale(context.Background(), "default", ref, scale); err != nil || hit != tc.wantResource {
			t.Errorf("%s %s update: err %v, went to %q", tc.apiVersion, tc.kind, err, hit)
		}
	}
}
