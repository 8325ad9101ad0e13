package netpol

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func pod(ns, name, ip, node string, lbl map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbl},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8000}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip}}
}

func ns(name string, lbl map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl}}
}

func policy(ns string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"}, Spec: spec}
}

func TestRender(t *testing.T) {
	tcp := corev1.ProtocolTCP
	web := intstr.FromString("web")
	p80 := intstr.FromInt32(80)
	end := int32(90)
	pods := []*corev1.Pod{
		pod("a", "server", "10.244.0.5", "node1", map[string]string{"app": "server"}),
		pod("b", "client", "10.244.0.6", "node1", map[string]string{"app": "client"}),
		pod("a", "remote", "10.244.1.5", "node2", map[string]string{"app": "server"}),
	}
	nss := []*corev1.Namespace{ns("a", map[string]string{"kubernetes.io/metadata.name": "a"}), ns("b", map[string]string{"kubernetes.io/metadata.name": "b"})}
	denyAll := policy("a", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}})
	tests := []struct {
		name     string
		policies []*networkingv1.NetworkPolicy
		want     []string
		notWant  []string
	}{
		{"no policy, no isolation", nil, nil, []string{"chain ing-", "add element"}},
		{"default deny isolates local pods of the namespace only", []*networkingv1.NetworkPolicy{denyAll},
			[]string{"chain ing-a/server {\n\t\tdrop\n\t}", "ingress-pods { 10.244.0.5 : jump ing-a/server }"},
			[]string{"ing-b/client", "ing-a/remote", "egress-pods { 10"}},
		{"allow from namespace b", []*networkingv1.NetworkPolicy{denyAll, policy("a", networkingv1.NetworkPolicySpec{
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "b"}}}}}}})},
			[]string{"ip saddr { 10.244.0.6 } return\n\t\tdrop"}, nil},
		{"named and ranged ports, ipBlock with except", []*networkingv1.NetworkPolicy{policy("a", networkingv1.NetworkPolicySpec{
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.244.1.0/24"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &web}, {Port: &p80, EndPort: &end}},
			}}})},
			[]string{"ip saddr 10.0.0.0/8 ip saddr != { 10.244.1.0/24 } meta l4proto tcp th dport 8000 return",
				"ip saddr 10.0.0.0/8 ip saddr != { 10.244.1.0/24 } meta l4proto tcp th dport 80-90 return"}, nil},
		{"egress to pods by label, named port resolved on the peer", []*networkingv1.NetworkPolicy{policy("b", networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}, PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "server"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: &web}},
			}}})},
			[]string{"chain egr-b/client {\n\t\tip daddr 10.244.0.5 meta l4proto tcp th dport 8000 return\n\t\tip daddr 10.244.1.5 meta l4proto tcp th dport 8000 return\n\t\tdrop",
				"egress-pods { 10.244.0.6 : jump egr-b/client }"}, []string{"chain ing-"}},
		{"peer selecting nothing allows nothing", []*networkingv1.NetworkPolicy{policy("a", networkingv1.NetworkPolicySpec{
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nobody"}}}}}}})},
			[]string{"chain ing-a/server {\n\t\tdrop"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Render("berth-np-test", State{Node: "node1", Policies: tc.policies, Pods: pods, Namespaces: nss})
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("Render() lacks %q; got:\n%s", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("Render() has %q; got:\n%s", w, got)
				}
			}
			if os.Geteuid() == 0 {
				if _, err := exec.LookPath("nft"); err == nil {
					// Applied for real in a throwaway network namespace.
					cmd := exec.Command("unshare", "--net", "nft", "-f", "-")
					cmd.Stdin = strings.NewReader(got)
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("nft rejects the rules: %v\n%s\n%s", err, out, got)
					}
				}
			}
		})
	}
}
