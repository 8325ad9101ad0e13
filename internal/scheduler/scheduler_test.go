package scheduler

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

func node(name, cpu, mem string, mods ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(cpu),
				corev1.ResourceMemory: resource.MustParse(mem),
				corev1.ResourcePods:   resource.MustParse("110"),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	for _, m := range mods {
		m(n)
	}
	return n
}

func pod(name, cpu string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: k8stypes.UID("uid-" + name)},
		Spec: corev1.PodSpec{
			SchedulerName: Name,
			Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func boundTo(n string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

func hostPortOn(port int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: port}}
	}
}

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pod   *corev1.Pod
		node  *corev1.Node
		bound []*corev1.Pod
		want  string // "" means the pod fits
	}{
		{"fits an empty node", pod("a", "500m"), node("n1", "2", "4Gi"), nil, ""},
		{"more cpu than the node has", pod("a", "3"), node("n1", "2", "4Gi"), nil, "Insufficient cpu"},
		{"cpu taken by bound pods", pod("a", "1"), node("n1", "2", "4Gi"), []*corev1.Pod{pod("b", "1500m", boundTo("n1"))}, "Insufficient cpu"},
		{"unschedulable node", pod("a", ""), node("n1", "2", "4Gi", func(n *corev1.Node) { n.Spec.Unschedulable = true }), nil, reasonUnschedulable},
		{"not ready node", pod("a", ""), node("n1", "2", "4Gi", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }), nil,
			"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"},
		{"untolerated NoSchedule taint", pod("a", ""), node("n1", "2", "4Gi", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		}), nil, "node(s) had untolerated taint {dedicated: gpu}"},
		{"tolerated taint", pod("a", "", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		}), node("n1", "2", "4Gi", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
		}), nil, ""},
		{"PreferNoSchedule taint does not filter", pod("a", ""), node("n1", "2", "4Gi", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectPreferNoSchedule}}
		}), nil, ""},
		{"nodeSelector mismatch", pod("a", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			node("n1", "2", "4Gi"), nil, reasonAffinity},
		{"required affinity NotIn", pod("a", "", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"n1"}}}}}}}}
		}), node("n1", "2", "4Gi"), nil, reasonAffinity},
		{"required affinity second term matches", pod("a", "", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{
					{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}}},
					{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}},
				}}}}
		}), node("n1", "2", "4Gi"), nil, ""},
		{"host port in use", pod("a", "", hostPortOn(8080)), node("n1", "2", "4Gi"), []*corev1.Pod{pod("b", "", boundTo("n1"), hostPortOn(8080))}, reasonHostPorts},
		{"other host port free", pod("a", "", hostPortOn(8081)), node("n1", "2", "4Gi"), []*corev1.Pod{pod("b", "", boundTo("n1"), hostPortOn(8080))}, ""},
		{"pod count reached", pod("a", ""), node("n1", "2", "4Gi", func(n *corev1.Node) { n.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("1") }),
			[]*corev1.Pod{pod("b", "", boundTo("n1"))}, reasonTooManyPods},
		{"init container request counts when larger", pod("a", "100m", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}}}
		}), node("n1", "2", "4Gi"), nil, "Insufficient cpu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(filter(tc.pod, nodeInfo{node: tc.node, pods: tc.bound}), ", ")
			if got != tc.want {
				t.Errorf("filter() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPickNode(t *testing.T) {
	busy := node("busy", "4", "8Gi")
	idle := node("idle", "4", "8Gi")
	got, _ := pickNode(pod("a", "500m"), []nodeInfo{
		{node: busy, pods: []*corev1.Pod{pod("b", "3", boundTo("busy"))}},
		{node: idle},
	})
	if got != "idle" {
		t.Errorf("pickNode() = %q, want the least allocated node %q", got, "idle")
	}
	_, reasons := pickNode(pod("a", "8"), []nodeInfo{{node: busy}, {node: idle}})
	if msg := fitErrorMessage(2, reasons); msg != "0/2 nodes are available: 2 Insufficient cpu." {
		t.Errorf("fitErrorMessage() = %q", msg)
	}
}

func TestFitErrorMessage(t *testing.T) {
	got := fitErrorMessage(3, map[string]int{"Insufficient cpu": 1, reasonUnschedulable: 2})
	want := "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable."
	if got != want {
		t.Errorf("fitErrorMessage() = %q, want %q", got, want)
	}
}

func TestNextFreeSubnet(t *testing.T) {
	cluster := netip.MustParsePrefix("10.244.0.0/16")
	for _, tc := range []struct {
		name string
		used []string
		want string
	}{
		{"first node gets the first /24", nil, "10.244.0.0/24"},
		{"holes are reused", []string{"10.244.0.0/24", "10.244.2.0/24"}, "10.244.1.0/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := nextFreeSubnet(cluster, tc.used)
			if err != nil || got.String() != tc.want {
				t.Errorf("nextFreeSubnet(%v) = %v, %v, want %s", tc.used, got, err, tc.want)
			}
		})
	}
	if _, err := nextFreeSubnet(netip.MustParsePrefix("10.0.0.0/24"), []string{"10.0.0.0/24"}); err == nil {
		t.Error("nextFreeSubnet on a full range returned no error")
	}
}

// TestSync runs one sync against a fake clientset, sample-controller style.
func TestSync(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		wantBind  string
		wantEvent string
	}{
		{"fitting pod is bound", pod("web", "100m"), "n1", "Normal Scheduled Successfully assigned default/web to n1"},
		{"too much cpu stays pending", pod("big", "64"), "", "Warning FailedScheduling 0/1 nodes are available: 1 Insufficient cpu."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := node("n1", "2", "4Gi")
			client := fake.NewClientset(n, tc.pod)
			factory := informers.NewSharedInformerFactory(client, 0)
			rec := record.NewFakeRecorder(10)
			s := New(client, factory, rec, slog.New(slog.DiscardHandler))
			factory.Core().V1().Nodes().Informer().GetIndexer().Add(n)
			factory.Core().V1().Pods().Informer().GetIndexer().Add(tc.pod)
			client.ClearActions()
			if err := s.sync(context.Background(), "default/"+tc.pod.Name); err != nil {
				t.Fatalf("sync: %v", err)
			}
			var bound string
			var status *corev1.Pod
			for _, a := range client.Actions() {
				if c, ok := a.(clienttesting.CreateAction); ok && a.GetSubresource() == "binding" {
					bound = c.GetObject().(*corev1.Binding).Target.Name
				}
				if u, ok := a.(clienttesting.UpdateAction); ok && a.GetSubresource() == "status" {
					status = u.GetObject().(*corev1.Pod)
				}
			}
			if bound != tc.wantBind {
				t.Errorf("bound to %q, want %q", bound, tc.wantBind)
			}
			if ev := <-rec.Events; ev != tc.wantEvent {
				t.Errorf("event = %q, want %q", ev, tc.wantEvent)
			}
			if tc.wantBind == "" {
				if status == nil || len(status.Status.Conditions) != 1 || status.Status.Conditions[0].Reason != corev1.PodReasonUnschedulable {
					t.Errorf("status update = %+v, want PodScheduled=False/Unschedulable", status)
				}
			}
		})
	}
}
