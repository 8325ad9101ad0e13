package volume

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

func pv(name, class, size string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:            modes,
			StorageClassName:       class,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
		},
	}
}

func pvc(name string, class *string, size string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: "uid-" + "name"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: class,
			AccessModes:      modes,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
}

func TestFindVolume(t *testing.T) {
	rwo := corev1.ReadWriteOnce
	rwx := corev1.ReadWriteMany
	small, big, other := pv("small", "manual", "1Gi", rwo), pv("big", "manual", "10Gi", rwo, rwx), pv("other", "fast", "1Gi", rwo)
	taken := pv("taken", "manual", "1Gi", rwo)
	taken.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "someone-else", UID: "x"}
	prebound := pv("prebound", "manual", "5Gi", rwo)
	prebound.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "mine"}
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		pvs   []*corev1.PersistentVolume
		want  string
	}{
		{"smallest that fits wins", pvc("c", ptr.To("manual"), "500Mi", rwo), []*corev1.PersistentVolume{big, small}, "small"},
		{"too small is skipped", pvc("c", ptr.To("manual"), "2Gi", rwo), []*corev1.PersistentVolume{small, big}, "big"},
		{"access modes must all be there", pvc("c", ptr.To("manual"), "1Gi", rwx), []*corev1.PersistentVolume{small, big}, "big"},
		{"class must match", pvc("c", ptr.To("fast"), "1Gi", rwo), []*corev1.PersistentVolume{small, other}, "other"},
		{"a volume bound elsewhere is not offered", pvc("c", ptr.To("manual"), "1Gi", rwo), []*corev1.PersistentVolume{taken}, ""},
		{"a volume pre-bound to the claim wins", pvc("mine", ptr.To("manual"), "1Gi", rwo), []*corev1.PersistentVolume{small, prebound}, "prebound"},
		{"nothing fits", pvc("c", ptr.To("manual"), "100Gi", rwo), []*corev1.PersistentVolume{small, big}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := findVolume(tc.claim, *tc.claim.Spec.StorageClassName, tc.pvs)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tc.want {
				t.Errorf("findVolume(%s) = %q, want %q", tc.claim.Name, name, tc.want)
			}
		})
	}
}

func TestDefaultClass(t *testing.T) {
	old := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "old", Annotations: map[string]string{annDefaultClass: "true"},
		CreationTimestamp: metav1.NewTime(time.Unix(100, 0))}}
	newer := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "newer", Annotations: map[string]string{annDefaultClass: "true"},
		CreationTimestamp: metav1.NewTime(time.Unix(200, 0))}}
	plain := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}
	if got := defaultClass([]*storagev1.StorageClass{old, newer, plain}); got != "newer" {
		t.Errorf("defaultClass = %q, want newer", got)
	}
	if got := defaultClass([]*storagev1.StorageClass{plain}); got != "" {
		t.Errorf("defaultClass without a default = %q, want empty", got)
	}
}

// TestProvisionAndBind runs the controller against a fake API: a claim of
// the default class gets a provisioned hostPath volume, both end Bound, and
// deleting the claim deletes the volume (reclaim policy Delete).
func TestProvisionAndBind(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewSimpleClientset()
	inf := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, inf, record.NewFakeRecorder(100), "/data/storage", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	inf.Start(ctx.Done())
	go func() { _ = c.Run(ctx, 1) }()

	claim := pvc("data", nil, "1Gi", corev1.ReadWriteOnce)
	claim.UID = "u1"
	if _, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var bound *corev1.PersistentVolumeClaim
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		bound, err = client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data", metav1.GetOptions{})
		return err == nil && bound.Status.Phase == corev1.ClaimBound, nil
	}); err != nil {
		t.Fatalf("claim never Bound: %+v", bound.Status)
	}
	if bound.Spec.VolumeName != "pvc-u1" || ptr.Deref(bound.Spec.StorageClassName, "") != DefaultClass {
		t.Errorf("claim bound to %q class %v, want pvc-u1 class %s", bound.Spec.VolumeName, bound.Spec.StorageClassName, DefaultClass)
	}
	vol, err := client.CoreV1().PersistentVolumes().Get(ctx, "pvc-u1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "/data/storage/pvc-u1_default_data"; vol.Spec.HostPath == nil || vol.Spec.HostPath.Path != want {
		t.Errorf("provisioned hostPath = %+v, want %s", vol.Spec.HostPath, want)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		vol, err = client.CoreV1().PersistentVolumes().Get(ctx, "pvc-u1", metav1.GetOptions{})
		return err == nil && vol.Status.Phase == corev1.VolumeBound, nil
	}); err != nil {
		t.Fatalf("volume never Bound: %+v", vol.Status)
	}

	if err := client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, "pvc-u1", metav1.GetOptions{})
		return err != nil, nil
	}); err != nil {
		t.Fatal("volume of a deleted claim with reclaim policy Delete was not deleted")
	}
}
