package endpointslice

import (
	"context"
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// runSync is sample-controller's fixture: objects preloaded into the fake
// clientset and the informers' indexers, one sync, the write verbs.
func runSync(t *testing.T, key string, objs ...runtime.Object) []string {
	t.Helper()
	kube := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(kube, 0)
	c, err := New(kube, f.Core().V1().Services(), f.Core().V1().Pods(), f.Discovery().V1().EndpointSlices(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Service:
			err = f.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *discoveryv1.EndpointSlice:
			err = f.Discovery().V1().EndpointSlices().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	kube.ClearActions()
	if err := c.sync(context.Background(), key); err != nil {
		t.Fatalf("sync(%q) = %v", key, err)
	}
	var verbs []string
	for _, a := range kube.Actions() {
		switch a.GetVerb() {
		case "create", "update", "delete":
			verbs = append(verbs, a.GetVerb())
		}
	}
	return verbs
}

func TestSync(t *testing.T) {
	svc := testSvc(nil)
	pods := []*corev1.Pod{testPod(1, true, 8000, nil), testPod(2, false, 8000, nil)}
	current := reconcile(svc, desiredGroups(svc, pods), nil, MaxEndpointsPerSlice).create[0]
	current.Name = "hello-abc"
	noSelector := testSvc(func(s *corev1.Service) { s.Spec.Selector = nil })
	tests := []struct {
		name  string
		objs  []runtime.Object
		verbs []string
	}{
		{"creates the slice", []runtime.Object{svc, pods[0], pods[1]}, []string{"create"}},
		{"up to date writes nothing", []runtime.Object{svc, pods[0], pods[1], current}, nil},
		{"readiness change updates", []runtime.Object{svc, pods[0], testPod(2, true, 8000, nil), current}, []string{"update"}},
		{"deleted service: its slices go", []runtime.Object{current}, []string{"delete"}},
		{"selector removed: its slices go", []runtime.Object{noSelector, current}, []string{"delete"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runSync(t, "default/hello", tc.objs...)
			if len(got) != len(tc.verbs) {
				t.Fatalf("writes = %v, want %v", got, tc.verbs)
			}
			for i := range got {
				if got[i] != tc.verbs[i] {
					t.Fatalf("writes = %v, want %v", got, tc.verbs)
				}
			}
		})
	}
}
