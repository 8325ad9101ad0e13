package endpoints

import (
	"context"
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
)

func svc(name string, mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "hello"},
			ClusterIP: "10.96.0.20",
			Ports:     []corev1.ServicePort{{Name: "http", Port: 8200, TargetPort: intstr.FromInt32(8000), Protocol: corev1.ProtocolTCP}},
		},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func pod(name, ip string, ready bool, mod func(*corev1.Pod)) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "hello"}},
		Spec: corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
			{Name: "web", ContainerPort: 8000, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
	if mod != nil {
		mod(p)
	}
	return p
}

func addr(p *corev1.Pod, hostname string) corev1.EndpointAddress {
	n := p.Spec.NodeName
	return corev1.EndpointAddress{IP: p.Status.PodIP, Hostname: hostname, NodeName: &n,
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}}
}

func TestDesiredSubsets(t *testing.T) {
	a := pod("a", "10.244.0.2", true, nil)
	b := pod("b", "10.244.0.3", false, nil)
	c := pod("c", "10.244.0.4", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9000 })
	noIP := pod("noip", "", true, nil)
	now := metav1.Now()
	dying := pod("dying", "10.244.0.9", true, func(p *corev1.Pod) { p.DeletionTimestamp = &now })
	named := func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("web") }
	http8000 := []corev1.EndpointPort{{Name: "http", Port: 8000, Protocol: corev1.ProtocolTCP}}
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []corev1.EndpointSubset
	}{
		{"no pods -> no subsets", svc("s", nil), nil, []corev1.EndpointSubset{}},
		{"ready and not ready split", svc("s", nil), []*corev1.Pod{b, a, noIP},
			[]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(a, "")}, NotReadyAddresses: []corev1.EndpointAddress{addr(b, "")}, Ports: http8000}}},
		{"publishNotReadyAddresses makes all ready", svc("s", func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }), []*corev1.Pod{a, b},
			[]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(a, ""), addr(b, "")}, Ports: http8000}}},
		{"terminating pod left out", svc("s", nil), []*corev1.Pod{a, dying},
			[]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(a, "")}, Ports: http8000}}},
		{"named port resolves per pod", svc("s", named), []*corev1.Pod{a, c},
			[]corev1.EndpointSubset{
				{Addresses: []corev1.EndpointAddress{addr(a, "")}, Ports: http8000},
				{Addresses: []corev1.EndpointAddress{addr(c, "")}, Ports: []corev1.EndpointPort{{Name: "http", Port: 9000, Protocol: corev1.ProtocolTCP}}},
			}},
		{"unresolvable named port drops the pod", svc("s", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("nope") }), []*corev1.Pod{a}, []corev1.EndpointSubset{}},
		{"headless without ports keeps addresses", svc("s", func(s *corev1.Service) { s.Spec.ClusterIP = "None"; s.Spec.Ports = nil }), []*corev1.Pod{a},
			[]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(a, "")}}}},
		{"hostname when subdomain names the service", svc("sub", nil),
			[]*corev1.Pod{pod("h", "10.244.0.7", true, func(p *corev1.Pod) { p.Spec.Hostname = "h0"; p.Spec.Subdomain = "sub" })},
			[]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(pod("h", "10.244.0.7", true, nil), "h0")}, Ports: http8000}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := desiredSubsets(tc.svc, tc.pods)
			if !apiequality.Semantic.DeepEqual(got, tc.want) {
				t.Fatalf("desiredSubsets() =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// fixture is sample-controller's: objects preloaded into the fake clientset
// and the informers' indexers, one sync, then the recorded write actions.
func runSync(t *testing.T, key string, objs ...runtime.Object) []core.Action {
	t.Helper()
	kube := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(kube, 0)
	c, err := New(kube, f.Core().V1().Services(), f.Core().V1().Pods(), f.Core().V1().Endpoints(), slog.New(slog.NewTextHandler(io.Discard, nil)))
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
		case *corev1.Endpoints:
			err = f.Core().V1().Endpoints().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	kube.ClearActions()
	if err := c.sync(context.Background(), key); err != nil {
		t.Fatalf("sync(%q) = %v", key, err)
	}
	var writes []core.Action
	for _, a := range kube.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			writes = append(writes, a)
		}
	}
	return writes
}

func TestSync(t *testing.T) {
	a := pod("a", "10.244.0.2", true, nil)
	s := svc("hello", nil)
	current := desired(s, []*corev1.Pod{a})
	kubernetesEP := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "172.20.0.2"}}}}}
	kubernetesSvc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Port: 443}}}}
	tests := []struct {
		name  string
		key   string
		objs  []runtime.Object
		verbs []string
	}{
		{"creates missing endpoints", "default/hello", []runtime.Object{s, a}, []string{"create"}},
		{"up to date does nothing", "default/hello", []runtime.Object{s, a, current}, nil},
		{"readiness change updates", "default/hello", []runtime.Object{s, pod("a", "10.244.0.2", false, nil), current}, []string{"update"}},
		{"deleted service deletes endpoints", "default/hello", []runtime.Object{current}, []string{"delete"}},
		{"kubernetes service is left alone", "default/kubernetes", []runtime.Object{kubernetesSvc, kubernetesEP}, nil},
		{"kubernetes endpoints survive without the service", "default/kubernetes", []runtime.Object{kubernetesEP}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acts := runSync(t, tc.key, tc.objs...)
			var verbs []string
			for _, a := range acts {
				verbs = append(verbs, a.GetVerb())
			}
			if len(verbs) != len(tc.verbs) {
				t.Fatalf("actions = %v, want %v", verbs, tc.verbs)
			}
			for i := range verbs {
				if verbs[i] != tc.verbs[i] {
					t.Fatalf("actions = %v, want %v", verbs, tc.verbs)
				}
			}
		})
	}
}
