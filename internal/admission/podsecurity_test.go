package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
