package kinds

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PersistentVolumes, PersistentVolumeClaims and StorageClasses.

func persistentVolumeKind(k *Kind) {
	sd, std := corev1.PersistentVolumeSpec{}.SwaggerDoc(), corev1.PersistentVolumeStatus{}.SwaggerDoc()
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Capacity", sd["capacity"]), str("Access Modes", sd["accessModes"]),
		str("Reclaim Policy", sd["persistentVolumeReclaimPolicy"]), str("Status", std["phase"]),
		str("Claim", sd["claimRef"]), str("StorageClass", "StorageClass of the pv"),
		str("VolumeAttributesClass", "VolumeAttributesClass of the pv"), str("Reason", std["reason"]),
		ageColumn, wide("VolumeMode", sd["volumeMode"])}
	k.Row = func(obj runtime.Object) []interface{} {
		pv := obj.(*corev1.PersistentVolume)
		claim := ""
		if pv.Spec.ClaimRef != nil {
			claim = pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name
		}
		phase := string(pv.Status.Phase)
		if pv.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		capacity := pv.Spec.Capacity[corev1.ResourceStorage]
		return []interface{}{pv.Name, capacity.String(), accessModes(pv.Spec.AccessModes),
			string(pv.Spec.PersistentVolumeReclaimPolicy), phase, claim, pv.Spec.StorageClassName,
			unsetOr(pv.Spec.VolumeAttributesClassName), pv.Status.Reason, age(pv.CreationTimestamp), volumeMode(pv.Spec.VolumeMode)}
	}
	k.Default = func(obj runtime.Object) {
		pv := obj.(*corev1.PersistentVolume)
		if pv.Spec.PersistentVolumeReclaimPolicy == "" {
			pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		}
		if pv.Spec.VolumeMode == nil {
			fs := corev1.PersistentVolumeFilesystem
			pv.Spec.VolumeMode = &fs
		}
		if pv.Status.Phase == "" {
			pv.Status.Phase = corev1.VolumePending
		}
	}
	k.PrepareForCreate = func(obj runtime.Object) {
		obj.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		pv := obj.(*corev1.PersistentVolume)
		var errs field.ErrorList
		spec := field.NewPath("spec")
		if len(pv.Spec.AccessModes) == 0 {
			errs = append(errs, field.Required(spec.Child("accessModes"), ""))
		}
		if _, ok := pv.Spec.Capacity[corev1.ResourceStorage]; !ok || len(pv.Spec.Capacity) > 1 {
			errs = append(errs, field.NotSupported(spec.Child("capacity"), pv.Spec.Capacity, []string{string(corev1.ResourceStorage)}))
		}
		return errs
	}, nil)
}

func persistentVolumeClaimKind(k *Kind) {
	sd, std := corev1.PersistentVolumeClaimSpec{}.SwaggerDoc(), corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Status", std["phase"]), str("Volume", sd["volumeName"]), str("Capacity", std["capacity"]),
		str("Access Modes", std["accessModes"]), str("StorageClass", "StorageClass of the pvc"),
		str("VolumeAttributesClass", "VolumeAttributesClass of the pvc"), ageColumn, wide("VolumeMode", sd["volumeMode"])}
	k.Row = func(obj runtime.Object) []interface{} {
		pvc := obj.(*corev1.PersistentVolumeClaim)
		phase := string(pvc.Status.Phase)
		if pvc.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		capacity, modes := "", ""
		if pvc.Spec.VolumeName != "" {
			q := pvc.Status.Capacity[corev1.ResourceStorage]
			capacity, modes = q.String(), accessModes(pvc.Status.AccessModes)
		}
		class := ""
		if pvc.Spec.StorageClassName != nil {
			class = *pvc.Spec.StorageClassName
		}
		return []interface{}{pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, class,
			unsetOr(pvc.Spec.VolumeAttributesClassName), age(pvc.CreationTimestamp), volumeMode(pvc.Spec.VolumeMode)}
	}
	k.Default = func(obj runtime.Object) {
		pvc := obj.(*corev1.PersistentVolumeClaim)
		if pvc.Spec.VolumeMode == nil {
			fs := corev1.PersistentVolumeFilesystem
			pvc.Spec.VolumeMode = &fs
		}
		if pvc.Status.Phase == "" {
			pvc.Status.Phase = corev1.ClaimPending
		}
	}
	k.PrepareForCreate = func(obj runtime.Object) {
		obj.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		pvc := obj.(*corev1.PersistentVolumeClaim)
		var errs field.ErrorList
		spec := field.NewPath("spec")
		if len(pvc.Spec.AccessModes) == 0 {
			errs = append(errs, field.Required(spec.Child("accessModes"), "at least 1 access mode is required"))
		}
		if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok && pvc.Spec.DataSource == nil {
			errs = append(errs, field.Required(spec.Child("resources").Key(string(corev1.ResourceStorage)), ""))
		}
		return errs
	}, func(obj, old runtime.Object) field.ErrorList {
		pvc, o := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
		// Upstream's ValidatePersistentVolumeClaimUpdate: only the storage
		// request may grow (once bound), the volume name and the class be
		// set once, and the attributes class change.
		mutated := o.Spec.DeepCopy()
		mutated.VolumeAttributesClassName = pvc.Spec.VolumeAttributesClassName
		if o.Spec.VolumeName == "" {
			mutated.VolumeName = pvc.Spec.VolumeName
		}
		// A claim made before a default class existed gets one later
		// (upstream's retroactive default StorageClass assignment).
		if o.Spec.StorageClassName == nil {
			mutated.StorageClassName = pvc.Spec.StorageClassName
		}
		if o.Status.Phase == corev1.ClaimBound {
			mutated.Resources.Requests = pvc.Spec.Resources.Requests
		}
		if !apiequality.Semantic.DeepEqual(mutated, &pvc.Spec) {
			return field.ErrorList{field.Forbidden(field.NewPath("spec"), "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims")}
		}
		newSize, oldSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage], o.Spec.Resources.Requests[corev1.ResourceStorage]
		if newSize.Cmp(oldSize) < 0 {
			return field.ErrorList{field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than previous value")}
		}
		return nil
	})
}

// accessModes abbreviates as kubectl does: RWO, ROX, RWX, RWOP.
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	short := map[corev1.PersistentVolumeAccessMode]string{
		corev1.ReadWriteOnce: "RWO", corev1.ReadOnlyMany: "ROX", corev1.ReadWriteMany: "RWX", corev1.ReadWriteOncePod: "RWOP",
	}
	var out []string
	seen := map[string]bool{}
	for _, order := range []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod} {
		for _, m := range modes {
			if m == order && !seen[short[m]] {
				seen[short[m]] = true
				out = append(out, short[m])
			}
		}
	}
	return strings.Join(out, ",")
}

func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}

func unsetOr(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

func storageClassKind(k *Kind) {
	d := storagev1.StorageClass{}.SwaggerDoc()
	k.Columns = []metav1.TableColumnDefinition{nameColumn, str("Provisioner", d["provisioner"]),
		str("ReclaimPolicy", d["reclaimPolicy"]), str("VolumeBindingMode", d["volumeBindingMode"]),
		str("AllowVolumeExpansion", d["allowVolumeExpansion"]), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		sc := obj.(*storagev1.StorageClass)
		name := sc.Name
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			name += " (default)"
		}
		reclaim := string(corev1.PersistentVolumeReclaimDelete)
		if sc.ReclaimPolicy != nil {
			reclaim = string(*sc.ReclaimPolicy)
		}
		binding := string(storagev1.VolumeBindingImmediate)
		if sc.VolumeBindingMode != nil {
			binding = string(*sc.VolumeBindingMode)
		}
		expand := sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
		return []interface{}{name, sc.Provisioner, reclaim, binding, expand, age(sc.CreationTimestamp)}
	}
	k.Default = func(obj runtime.Object) {
		sc := obj.(*storagev1.StorageClass)
		if sc.ReclaimPolicy == nil {
			p := corev1.PersistentVolumeReclaimDelete
			sc.ReclaimPolicy = &p
		}
		if sc.VolumeBindingMode == nil {
			m := storagev1.VolumeBindingImmediate
			sc.VolumeBindingMode = &m
		}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		if obj.(*storagev1.StorageClass).Provisioner == "" {
			return field.ErrorList{field.Required(field.NewPath("provisioner"), "")}
		}
		return nil
	}, func(obj, old runtime.Object) field.ErrorList {
		sc, o := obj.(*storagev1.StorageClass), old.(*storagev1.StorageClass)
		if sc.Provisioner != o.Provisioner {
			return field.ErrorList{field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden.")}
		}
		return nil
	})
}
