package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
)

// defaultClassAnnotation marks the cluster's default StorageClass.
const defaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"

// defaultStorageClass is upstream's DefaultStorageClass plugin: a claim
// that names no class gets the default one (the newest, if several are
// marked), so `kubectl get pvc` shows it at once.
func (p *Plugins) defaultStorageClass(ctx context.Context, a *Attributes) error {
	pvc := a.Object.(*corev1.PersistentVolumeClaim)
	if pvc.Spec.StorageClassName != nil {
		return nil
	}
	classKind := kinds.Lookup(schema.GroupVersionResource{Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses"})
	classes, err := p.cache.list(ctx, p.reader, classKind, "")
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("list storageclasses: %w", err))
	}
	var best *storagev1.StorageClass
	for _, obj := range classes {
		sc := obj.(*storagev1.StorageClass)
		if sc.Annotations[defaultClassAnnotation] != "true" {
			continue
		}
		if best == nil || sc.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			(sc.CreationTimestamp.Equal(&best.CreationTimestamp) && sc.Name < best.Name) {
			best = sc
		}
	}
	if best != nil {
		name := best.Name
		pvc.Spec.StorageClassName = &name
	}
	return nil
}
