package admission

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

func TestPodSecurity(t *testing.T) {
	yes, no := true, false
	restrictedOK := func(c *corev1.Container) {
		c.SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: &no, RunAsNonRoot: &yes,
			Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	}
	tests := []struct {
		name    string
		labels  map[string]string
		mutate  func(*corev1.Pod)
		wantErr string
	}{
		{"no label", nil, func(p *corev1.Pod) { p.Spec.HostNetwork = true }, ""},
		{"privileged level", map[string]string{enforceLabel: "privileged"}, func(p *corev1.Pod) { p.Spec.HostNetwork = true }, ""},
		{"baseline allows a plain pod", map[string]string{enforceLabel: "baseline"}, func(*corev1.Pod) {}, ""},
		{"baseline refuses host namespaces and privileged", map[string]string{enforceLabel: "baseline", enforceVersionLabel: "v1.32"},
			func(p *corev1.Pod) {
				p.Spec.HostNetwork, p.Spec.HostPID = true, true
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
			},
			`pods "a" is forbidden: violates PodSecurity "baseline:v1.32": host namespaces (hostNetwork, hostPID), hostPort (container "app" uses hostPort 8080), privileged (container "app" must not set securityContext.privileged=true)`},
		{"restricted refuses a plain pod", map[string]string{enforceLabel: "restricted"}, func(*corev1.Pod) {},
			`pods "a" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`},
		{"restricted allows a hardened pod", map[string]string{enforceLabel: "restricted"}, func(p *corev1.Pod) { restrictedOK(&p.Spec.Containers[0]) }, ""},
		{"restricted refuses hostPath and added capabilities", map[string]string{enforceLabel: "restricted"}, func(p *corev1.Pod) {
			restrictedOK(&p.Spec.Containers[0])
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
			p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}, `pods "a" is forbidden: violates PodSecurity "restricted:latest": unrestricted capabilities (container "app" must not include "NET_ADMIN" in securityContext.capabilities.add), restricted volume types (volume "host" uses restricted volume type "hostPath")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "secure", Labels: tc.labels}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
			p, _, _ := newTestPlugins(t, ns)
			po := pod("secure", "a")
			tc.mutate(po)
			_, msg := statusOf(t, p.Admit(context.Background(), create(po, "pods")))
			if msg != tc.wantErr {
				t.Errorf("Admit message =\n%q\nwant\n%q", msg, tc.wantErr)
			}
		})
	}
}

func TestPodSecurityNamespaceLabels(t *testing.T) {
	p, _, _ := newTestPlugins(t)
	for _, tc := range []struct{ level, wantErr string }{
		{"restricted", ""},
		{"privileged", ""},
		{"strict", `Namespace "team" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted`},
	} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{enforceLabel: tc.level}}}
		if _, msg := statusOf(t, p.Admit(context.Background(), create(ns, "namespaces"))); msg != tc.wantErr {
			t.Errorf("level %q: Admit = %q, want %q", tc.level, msg, tc.wantErr)
		}
	}
}

func TestPodSecurityWarnings(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "secure", Labels: map[string]string{
		enforceLabel: "baseline", warnLabel: "restricted"}}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	p, _, _ := newTestPlugins(t, ns)
	ctx := context.Background()

	// A baseline-clean pod is admitted with the restricted level's warning.
	a := create(pod("secure", "a"), "pods")
	if err := p.Admit(ctx, a); err != nil {
		t.Fatal(err)
	}
	if len(a.Warnings) != 1 || !strings.HasPrefix(a.Warnings[0], `would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false`) {
		t.Errorf("warnings = %q", a.Warnings)
	}

	// A deployment breaking the enforce level is admitted with warnings for
	// both levels; its pods would be refused.
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "secure", Name: "web"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{HostNetwork: true,
			Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}}}
	a = &Attributes{Operation: Create, Kind: kinds.Lookup(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}),
		Namespace: "secure", Name: "web", Object: d}
	if err := p.Admit(ctx, a); err != nil {
		t.Fatal(err)
	}
	if len(a.Warnings) != 2 || !strings.Contains(a.Warnings[1], `would violate PodSecurity "baseline:latest": host namespaces (hostNetwork)`) {
		t.Errorf("deployment warnings = %q", a.Warnings)
	}

	// A pod update that changes no image is not re-checked.
	old := pod("secure", "b")
	old.Spec.HostNetwork = true
	upd := old.DeepCopy()
	upd.Labels = map[string]string{"x": "y"}
	if err := p.Admit(ctx, &Attributes{Operation: Update, Kind: kind("pods"), Namespace: "secure", Name: "b", Object: upd, OldObject: old}); err != nil {
		t.Errorf("label update of an existing pod: %v", err)
	}
}
