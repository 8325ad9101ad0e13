package endpointslice

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testSvc(mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default", UID: "svc-uid", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "hello"},
			ClusterIP: "10.96.0.20",
			Ports:     []corev1.ServicePort{{Name: "http", Port: 8200, TargetPort: intstr.FromString("web"), Protocol: corev1.ProtocolTCP}},
		},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func testPod(i int, ready bool, port int32, mod func(*corev1.Pod)) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%03d", i), Namespace: "default", UID: types.UID(fmt.Sprintf("uid%d", i)), Labels: map[string]string{"app": "hello"}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Ports: []corev1.ContainerPort{
			{Name: "web", ContainerPort: port, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.244.%d.%d", i/250, i%250+2),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
	if mod != nil {
		mod(p)
	}
	return p
}

type cond struct{ ready, serving, terminating bool }

func TestDesiredGroupsConditions(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name string
		svc  *corev1.Service
		pod  *corev1.Pod
		want *cond // nil: no endpoint
		host string
	}{
		{"ready pod", testSvc(nil), testPod(1, true, 8000, nil), &cond{true, true, false}, ""},
		{"not ready pod", testSvc(nil), testPod(1, false, 8000, nil), &cond{false, false, false}, ""},
		{"terminating ready pod serves but is not ready", testSvc(nil), testPod(1, true, 8000, func(p *corev1.Pod) { p.DeletionTimestamp = &now }), &cond{false, true, true}, ""},
		{"publishNotReadyAddresses", testSvc(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }), testPod(1, false, 8000, nil), &cond{true, false, false}, ""},
		{"failed pod left out", testSvc(nil), testPod(1, true, 8000, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), nil, ""},
		{"named port missing leaves pod out", testSvc(nil), testPod(1, true, 8000, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "other" }), nil, ""},
		{"hostname under its subdomain", testSvc(nil), testPod(1, true, 8000, func(p *corev1.Pod) { p.Spec.Hostname = "h"; p.Spec.Subdomain = "hello" }), &cond{true, true, false}, "h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gs := desiredGroups(tc.svc, []*corev1.Pod{tc.pod})
			if tc.want == nil {
				if len(gs) != 0 {
					t.Fatalf("desiredGroups() = %d groups, want none", len(gs))
				}
				return
			}
			if len(gs) != 1 || len(gs[0].endpoints) != 1 {
				t.Fatalf("desiredGroups() = %+v, want one endpoint", gs)
			}
			ep := gs[0].endpoints[0]
			got := cond{*ep.Conditions.Ready, *ep.Conditions.Serving, *ep.Conditions.Terminating}
			if got != *tc.want {
				t.Errorf("conditions = %+v, want %+v", got, *tc.want)
			}
			if deref(ep.Hostname) != tc.host {
				t.Errorf("hostname = %q, want %q", deref(ep.Hostname), tc.host)
			}
			if *gs[0].ports[0].Port != 8000 || deref(ep.NodeName) != "node1" || ep.TargetRef.Name != tc.pod.Name {
				t.Errorf("endpoint = %+v ports %+v", ep, gs[0].ports)
			}
		})
	}
}

func TestReconcile(t *testing.T) {
	svc := testSvc(nil)
	pods := func(n int, port int32) []*corev1.Pod {
		var ps []*corev1.Pod
		for i := range n {
			ps = append(ps, testPod(i, true, port, nil))
		}
		return ps
	}
	// existingFor builds the slices a previous reconcile would have left.
	existingFor := func(ps []*corev1.Pod) []*discoveryv1.EndpointSlice {
		p := reconcile(svc, desiredGroups(svc, ps), nil, MaxEndpointsPerSlice)
		for i, s := range p.create {
			s.Name = fmt.Sprintf("hello-%c", 'a'+i)
		}
		return p.create
	}
	mixed := append(pods(2, 8000), testPod(5, true, 9000, nil))
	tests := []struct {
		name                    string
		pods                    []*corev1.Pod
		existing                []*discoveryv1.EndpointSlice
		create, update, remove  int
		wantEndpointsPerCreated []int
	}{
		{"no pods: one empty placeholder", nil, nil, 1, 0, 0, []int{0}},
		{"three pods, one slice", pods(3, 8000), nil, 1, 0, 0, []int{3}},
		{"250 pods are cut at 100", pods(250, 8000), nil, 3, 0, 0, []int{100, 100, 50}},
		{"two port numbers, two slices", mixed, nil, 2, 0, 0, []int{2, 1}},
		{"steady state writes nothing", pods(3, 8000), existingFor(pods(3, 8000)), 0, 0, 0, nil},
		{"readiness flip updates the slice", append(pods(2, 8000), testPod(2, false, 8000, nil)), existingFor(pods(3, 8000)), 0, 1, 0, nil},
		{"shrinking removes surplus slices", pods(50, 8000), existingFor(pods(250, 8000)), 0, 1, 2, nil},
		{"all pods gone: placeholder replaces", nil, existingFor(pods(3, 8000)), 1, 0, 1, []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := reconcile(svc, desiredGroups(svc, tc.pods), tc.existing, MaxEndpointsPerSlice)
			if len(p.create) != tc.create || len(p.update) != tc.update || len(p.remove) != tc.remove {
				t.Fatalf("reconcile() = %d create, %d update, %d remove; want %d, %d, %d",
					len(p.create), len(p.update), len(p.remove), tc.create, tc.update, tc.remove)
			}
			for i, n := range tc.wantEndpointsPerCreated {
				if got := len(p.create[i].Endpoints); got != n {
					t.Errorf("created slice %d has %d endpoints, want %d", i, got, n)
				}
			}
			for _, s := range append(p.create, p.update...) {
				if s.Labels[discoveryv1.LabelServiceName] != "hello" || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels["team"] != "a" {
					t.Errorf("labels = %v", s.Labels)
				}
				if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "svc-uid" || !*s.OwnerReferences[0].Controller {
					t.Errorf("ownerReferences = %+v", s.OwnerReferences)
				}
			}
		})
	}
}

func TestWriteTracker(t *testing.T) {
	w := writeTracker{rv: map[string]map[string]uint64{}}
	slice := func(name, rv string) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv}}
	}
	w.record("ns/s", "a", 10)
	if !w.stale("ns/s", nil) {
		t.Fatal("stale(created slice not listed) = false, want true")
	}
	if !w.stale("ns/s", []*discoveryv1.EndpointSlice{slice("a", "9")}) {
		t.Fatal("stale(older version listed) = false, want true")
	}
	if w.stale("ns/s", []*discoveryv1.EndpointSlice{slice("a", "10")}) {
		t.Fatal("stale(our version listed) = true, want false")
	}
	w.record("ns/s", "b", deleted)
	if !w.stale("ns/s", []*discoveryv1.EndpointSlice{slice("b", "3")}) {
		t.Fatal("stale(deleted slice still listed) = false, want true")
	}
	w.forget("ns/s", "b")
	if w.stale("ns/s", []*discoveryv1.EndpointSlice{slice("b", "3")}) {
		t.Fatal("stale after forget = true, want false")
	}
}
