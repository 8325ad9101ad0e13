package admission

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestDefaultStorageClass(t *testing.T) {
	class := func(name string, isDefault bool, age time.Duration) *storagev1.StorageClass {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Now().Add(-age))}}
		if isDefault {
			sc.Annotations = map[string]string{defaultClassAnnotation: "true"}
		}
		return sc
	}
	fast := "fast"
	tests := []struct {
		name    string
		classes []runtime.Object
		asked   *string
		want    string // "" means left unset
	}{
		{"no default class", []runtime.Object{class("slow", false, time.Hour)}, nil, ""},
		{"default applied", []runtime.Object{class("slow", false, time.Hour), class("local-path", true, time.Hour)}, nil, "local-path"},
		{"newest default wins", []runtime.Object{class("old", true, time.Hour), class("new", true, time.Minute)}, nil, "new"},
		{"own class kept", []runtime.Object{class("local-path", true, time.Hour)}, &fast, "fast"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := newTestPlugins(t, tc.classes...)
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "data", UID: "pvc-1"},
				Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: tc.asked}}
			if err := p.Admit(context.Background(), create(pvc, "persistentvolumeclaims")); err != nil {
				t.Fatal(err)
			}
			got := ""
			if pvc.Spec.StorageClassName != nil {
				got = *pvc.Spec.StorageClassName
			}
			if got != tc.want {
				t.Errorf("storageClassName = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClaimLimitRange(t *testing.T) {
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "storage"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypePersistentVolumeClaim,
			Min: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			Max: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}}}}
	for _, tc := range []struct{ size, wantErr string }{
		{"5Gi", ""},
		{"500Mi", `persistentvolumeclaims "data" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi`},
		{"20Gi", `persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi`},
	} {
		p, _, _ := newTestPlugins(t, lr)
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "data", UID: "pvc-1"},
			Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(tc.size)}}}}
		if _, msg := statusOf(t, p.Admit(context.Background(), create(pvc, "persistentvolumeclaims"))); msg != tc.wantErr {
			t.Errorf("claim of %s: Admit = %q, want %q", tc.size, msg, tc.wantErr)
		}
	}
}
