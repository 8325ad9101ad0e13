// Package volume is the PersistentVolume controller: it binds claims to
// volumes, provisions hostPath volumes for claims of the local-path class
// (like k3s's local-path-provisioner), and releases or deletes volumes whose
// claim is gone. It mirrors upstream's pkg/controller/volume/persistentvolume
// (pv_controller.go) in the parts a one-binary cluster needs; no external
// provisioners, no WaitForFirstConsumer.
package volume

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Provisioner is the name of berth's built-in provisioner, and
// DefaultClass the StorageClass that uses it and is the cluster default.
const (
	Provisioner  = "berth.dev/local-path"
	DefaultClass = "local-path"

	annDefaultClass   = "storageclass.kubernetes.io/is-default-class"
	annBindCompleted  = "pv.kubernetes.io/bind-completed"
	annBoundByCtrl    = "pv.kubernetes.io/bound-by-controller"
	annProvisionedBy  = "pv.kubernetes.io/provisioned-by"
	annStorageProvisn = "volume.kubernetes.io/storage-provisioner"
)

// claimClass is the class a claim asks for: its own, or the default class
// when it names none (upstream's DefaultStorageClass admission does this at
// create time; doing it here also covers claims made before a default existed).
func claimClass(pvc *corev1.PersistentVolumeClaim, classes []*storagev1.StorageClass) string {
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	return defaultClass(classes)
}

// defaultClass returns the newest class marked default, as upstream picks.
func defaultClass(classes []*storagev1.StorageClass) string {
	var best *storagev1.StorageClass
	for _, c := range classes {
		if c.Annotations[annDefaultClass] != "true" {
			continue
		}
		if best == nil || c.CreationTimestamp.After(best.CreationTimestamp.Time) {
			best = c
		}
	}
	if best == nil {
		return ""
	}
	return best.Name
}

// findVolume picks the volume to bind pvc to: one already pre-bound to it if
// any, else the smallest Available volume of the claim's class that has the
// access modes, volume mode, capacity and labels the claim asks for.
func findVolume(pvc *corev1.PersistentVolumeClaim, class string, pvs []*corev1.PersistentVolume) *corev1.PersistentVolume {
	for _, pv := range pvs {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace == pvc.Namespace && ref.Name == pvc.Name &&
			(ref.UID == "" || ref.UID == pvc.UID) {
			return pv
		}
	}
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	var fits []*corev1.PersistentVolume
	for _, pv := range pvs {
		if pv.Spec.ClaimRef != nil || pv.DeletionTimestamp != nil || pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed {
			continue
		}
		if pv.Spec.StorageClassName != class || volumeMode(pv.Spec.VolumeMode) != volumeMode(pvc.Spec.VolumeMode) {
			continue
		}
		have := pv.Spec.Capacity[corev1.ResourceStorage]
		if have.Cmp(want) < 0 || !hasModes(pv.Spec.AccessModes, pvc.Spec.AccessModes) {
			continue
		}
		if pvc.Spec.Selector != nil {
			sel, err := metav1.LabelSelectorAsSelector(pvc.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(pv.Labels)) {
				continue
			}
		}
		fits = append(fits, pv)
	}
	if len(fits) == 0 {
		return nil
	}
	sort.Slice(fits, func(i, j int) bool {
		a, b := fits[i].Spec.Capacity[corev1.ResourceStorage], fits[j].Spec.Capacity[corev1.ResourceStorage]
		if c := a.Cmp(b); c != 0 {
			return c < 0
		}
		return fits[i].Name < fits[j].Name
	})
	return fits[0]
}

func volumeMode(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
	if m == nil {
		return corev1.PersistentVolumeFilesystem
	}
	return *m
}

func hasModes(have, want []corev1.PersistentVolumeAccessMode) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
