package daemonset

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newDS() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system", UID: "agent-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
}

func node(name string, lbls map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}, Spec: corev1.NodeSpec{Taints: taints}}
}

func TestNodeShouldRun(t *testing.T) {
	withSelector := newDS()
	withSelector.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	withAffinity := newDS()
	withAffinity.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
		}}}}
	tests := []struct {
		name           string
		ds             *appsv1.DaemonSet
		node           *corev1.Node
		run, continue_ bool
	}{
		{"plain node", newDS(), node("n", nil), true, true},
		{"nodeSelector matches", withSelector, node("n", map[string]string{"disk": "ssd"}), true, true},
		{"nodeSelector doesn't match", withSelector, node("n", map[string]string{"disk": "hdd"}), false, false},
		{"affinity matches", withAffinity, node("n", map[string]string{"zone": "a"}), true, true},
		{"affinity doesn't match", withAffinity, node("n", map[string]string{"zone": "b"}), false, false},
		{"cordoned node tolerated by default", newDS(), node("n", nil, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}), true, true},
		{"not-ready NoExecute tolerated by default", newDS(), node("n", nil, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}), true, true},
		{"foreign NoSchedule: existing pods stay", newDS(), node("n", nil, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}), false, true},
		{"foreign NoExecute: pods go", newDS(), node("n", nil, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run, cont := nodeShouldRun(tc.node, tc.ds)
			if run != tc.run || cont != tc.continue_ {
				t.Errorf("nodeShouldRun() = %v, %v; want %v, %v", run, cont, tc.run, tc.continue_)
			}
		})
	}
}

func dsPod(name, nodeName, hash string, ready bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), Namespace: "kube-system",
		Labels: map[string]string{"app": "agent", appsv1.DefaultDaemonSetUniqueLabelKey: hash}},
		Spec: corev1.PodSpec{NodeName: nodeName}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if ready {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	return p
}

func TestDecideRollingUpdate(t *testing.T) {
	ds := newDS()
	states := []nodeState{
		{node: node("a", nil), shouldRun: true, shouldContinue: true, pods: []*corev1.Pod{dsPod("pa", "a", "old", true)}},
		{node: node("b", nil), shouldRun: true, shouldContinue: true, pods: []*corev1.Pod{dsPod("pb", "b", "old", true)}},
		{node: node("c", nil), shouldRun: true, shouldContinue: true, pods: []*corev1.Pod{dsPod("pc", "c", "old", false)}},
		{node: node("d", nil), shouldRun: true, shouldContinue: true},
		{node: node("e", nil), shouldRun: false, shouldContinue: false, pods: []*corev1.Pod{dsPod("pe", "e", "new", true)}},
	}
	p := decide(ds, states, "new", now)
	var deleted []string
	for _, pod := range p.delete {
		deleted = append(deleted, pod.Name)
	}
	// maxUnavailable 1 is used up by the missing pod on d and the
	// unavailable one on c (replacing it costs nothing): a and b wait.
	if len(p.create) != 1 || p.create[0] != "d" {
		t.Errorf("create = %v, want [d]", p.create)
	}
	if len(deleted) != 2 || deleted[0] != "pc" || deleted[1] != "pe" {
		t.Errorf("delete = %v, want [pc pe]", deleted)
	}
}

func TestSyncCreatesPinnedPods(t *testing.T) {
	ds := newDS()
	n1, n2 := node("node1", nil), node("node2", map[string]string{"x": "y"})
	cs := fake.NewSimpleClientset(ds, n1, n2)
	inf := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(cs, inf, record.NewFakeRecorder(100), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rec := &podRecorder{pods: map[string]*corev1.Pod{}}
	c.podControl = rec
	created := rec.pods
	c.clock = clocktesting.NewFakeClock(now)
	for _, o := range []runtime.Object{n1, n2} {
		if err := inf.Core().V1().Nodes().Informer().GetIndexer().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	if err := inf.Apps().V1().DaemonSets().Informer().GetIndexer().Add(ds); err != nil {
		t.Fatal(err)
	}
	if err := c.sync(context.Background(), "kube-system/agent"); err != nil {
		t.Fatal(err)
	}
	if len(created) != 2 {
		t.Fatalf("created pods for %d nodes, want 2", len(created))
	}
	p := created["node1"]
	if p == nil || targetNode(p) != "node1" || p.Spec.NodeName != "" {
		t.Fatalf("pod for node1 = %+v, want pinned by affinity and unbound", p)
	}
	if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" || len(p.Spec.Tolerations) != len(defaultTolerations) {
		t.Errorf("labels %v tolerations %v, want controller-revision-hash and the default tolerations", p.Labels, p.Spec.Tolerations)
	}
	revs, err := cs.AppsV1().ControllerRevisions("kube-system").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(revs.Items) != 1 || revs.Items[0].Revision != 1 {
		t.Fatalf("controller revisions %+v %v, want one at revision 1", revs, err)
	}
	if h := revs.Items[0].Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] {
		t.Errorf("revision hash %q != pod hash %q", h, p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey])
	}
	got, _ := cs.AppsV1().DaemonSets("kube-system").Get(context.Background(), "agent", metav1.GetOptions{})
	if got.Status.DesiredNumberScheduled != 2 || got.Status.ObservedGeneration != 1 {
		t.Errorf("status %+v, want desired 2, observedGeneration 1", got.Status)
	}
}

// podRecorder is a PodControl that records created pods by target node.
type podRecorder struct {
	mu   sync.Mutex
	pods map[string]*corev1.Pod
}

func (r *podRecorder) CreatePod(_ context.Context, _ string, tmpl *corev1.PodTemplateSpec, _ runtime.Object, ref *metav1.OwnerReference, mutate func(*corev1.Pod)) (*corev1.Pod, error) {
	p := ctrlutil.PodFromTemplate(tmpl, ref)
	mutate(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pods[targetNode(p)] = p
	return p, nil
}

func (r *podRecorder) DeletePod(context.Context, string, string, types.UID, runtime.Object) error {
	return nil
}
