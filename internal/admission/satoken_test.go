package admission

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceAccountTokenVolume(t *testing.T) {
	no := false
	quiet := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "quiet"}, AutomountServiceAccountToken: &no}
	p, _, _ := newTestPlugins(t, quiet)
	for _, tc := range []struct {
		name      string
		edit      func(*corev1.Pod)
		wantMount bool
	}{
		{"default account", func(*corev1.Pod) {}, true},
		{"pod opts out", func(po *corev1.Pod) { po.Spec.AutomountServiceAccountToken = &no }, false},
		{"account opts out", func(po *corev1.Pod) { po.Spec.ServiceAccountName = "quiet" }, false},
		{"container mounts the path itself", func(po *corev1.Pod) {
			po.Spec.Volumes = append(po.Spec.Volumes, corev1.Volume{Name: "mine"})
			for i := range po.Spec.Containers {
				po.Spec.Containers[i].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: apiAccessMountPath}}
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			po := pod("default", "a")
			tc.edit(po)
			if err := p.Admit(context.Background(), create(po, "pods")); err != nil {
				t.Fatal(err)
			}
			var vol *corev1.Volume
			for i, v := range po.Spec.Volumes {
				if strings.HasPrefix(v.Name, "kube-api-access-") {
					vol = &po.Spec.Volumes[i]
				}
			}
			if (vol != nil) != tc.wantMount {
				t.Fatalf("kube-api-access volume = %+v, want present=%v", vol, tc.wantMount)
			}
			if vol == nil {
				return
			}
			if len(vol.Name) != len("kube-api-access-")+5 || vol.Projected == nil || len(vol.Projected.Sources) != 3 ||
				vol.Projected.Sources[0].ServiceAccountToken.Path != "token" || *vol.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
				vol.Projected.Sources[1].ConfigMap.Name != "kube-root-ca.crt" || vol.Projected.Sources[2].DownwardAPI.Items[0].Path != "namespace" {
				t.Errorf("volume = %+v", vol)
			}
			for _, c := range po.Spec.Containers {
				if m := c.VolumeMounts; len(m) != 1 || m[0].Name != vol.Name || !m[0].ReadOnly || m[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" {
					t.Errorf("container %s mounts %+v", c.Name, c.VolumeMounts)
				}
			}
		})
	}
}
