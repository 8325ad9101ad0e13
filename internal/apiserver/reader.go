package apiserver

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
	"github.com/berth-dev/berth/internal/storage"
)

// Reader reads stored objects in a kind's served version, for admission
// plugins (admission.Reader), which must not import internal/storage.
// Its reads are serializable (no quorum round), like upstream admission
// reading informer caches.
type Reader struct{ store *storage.Store }

// NewReader returns a Reader over store.
func NewReader(store *storage.Store) *Reader { return &Reader{store: store} }

// Get returns one object; a missing one is a NotFound Status error.
func (r *Reader) Get(ctx context.Context, k *kinds.Kind, namespace, name string) (runtime.Object, error) {
	obj, err := r.store.GetCached(ctx, storage.Key(k.Storage.Group, k.StorageResource, namespace, name))
	if err != nil {
		return nil, apiErrorFor(k, name, err)
	}
	return toServed(k, obj)
}

// List returns every object of k in namespace ("" for all namespaces).
func (r *Reader) List(ctx context.Context, k *kinds.Kind, namespace string) ([]runtime.Object, error) {
	res, err := r.store.List(ctx, storage.Key(k.Storage.Group, k.StorageResource, namespace, ""), storage.ListOptions{Cached: true})
	if err != nil {
		return nil, apiErrorFor(k, "", err)
	}
	out := make([]runtime.Object, len(res.Items))
	for i, obj := range res.Items {
		if out[i], err = toServed(k, obj); err != nil {
			return nil, err
		}
	}
	return out, nil
}
