package ctrlutil

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// PatchFunc applies a JSON merge patch to the child namespace/name.
type PatchFunc func(ctx context.Context, namespace, name string, patch []byte) error

// RefManager decides which children an owner controls, as upstream's
// BaseControllerRefManager: a child already controlled by the owner is kept
// while the selector matches and released when it no longer does; an orphan
// that matches is adopted, unless the owner is being deleted; children of
// other controllers are left alone.
type RefManager struct {
	Owner    metav1.Object
	OwnerGVK schema.GroupVersionKind
	Selector labels.Selector
	// CanAdopt runs once, before the first adoption: upstream re-reads the
	// owner uncached to be sure it isn't being deleted (RecheckDeletionTimestamp).
	CanAdopt func(ctx context.Context) error
	Patch    PatchFunc

	adoptErr  error
	adoptDone bool
}

// Claim returns the children owned by the owner after adopting and
// releasing. Errors from adoption or release are returned joined with the
// claimed children; a child that vanished meanwhile is just skipped.
func Claim[T metav1.Object](ctx context.Context, m *RefManager, children []T) ([]T, error) {
	var claimed []T
	var errs []error
	for _, c := range children {
		ok, err := m.claimOne(ctx, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			claimed = append(claimed, c)
		}
	}
	if len(errs) > 0 {
		return claimed, fmt.Errorf("claim children of %s: %v", m.Owner.GetName(), errs)
	}
	return claimed, nil
}

func (m *RefManager) claimOne(ctx context.Context, c metav1.Object) (bool, error) {
	match := m.Selector.Matches(labels.Set(c.GetLabels()))
	if ref := metav1.GetControllerOfNoCopy(c); ref != nil {
		if ref.UID != m.Owner.GetUID() {
			return false, nil
		}
		if match {
			return true, nil
		}
		// Don't release while the owner is going: the GC handles that.
		if m.Owner.GetDeletionTimestamp() != nil {
			return false, nil
		}
		return false, ignoreGone(m.release(ctx, c))
	}
	if !match || m.Owner.GetDeletionTimestamp() != nil || c.GetDeletionTimestamp() != nil {
		return false, nil
	}
	if err := m.adopt(ctx, c); err != nil {
		return false, ignoreGone(err)
	}
	return true, nil
}

func ignoreGone(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (m *RefManager) adopt(ctx context.Context, c metav1.Object) error {
	if !m.adoptDone {
		m.adoptDone = true
		if m.CanAdopt != nil {
			m.adoptErr = m.CanAdopt(ctx)
		}
	}
	if m.adoptErr != nil {
		return fmt.Errorf("can't adopt %s/%s: %w", c.GetNamespace(), c.GetName(), m.adoptErr)
	}
	refs := append(append([]metav1.OwnerReference(nil), c.GetOwnerReferences()...), *NewControllerRef(m.Owner, m.OwnerGVK))
	return m.patchRefs(ctx, c, refs)
}

func (m *RefManager) release(ctx context.Context, c metav1.Object) error {
	var refs []metav1.OwnerReference
	for _, r := range c.GetOwnerReferences() {
		if r.UID != m.Owner.GetUID() {
			refs = append(refs, r)
		}
	}
	err := m.patchRefs(ctx, c, refs)
	// The child changed under us (422 on the uid precondition): nothing to release.
	if apierrors.IsInvalid(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// patchRefs replaces the child's ownerReferences. A merge patch replaces
// lists wholesale, so it works for every kind; the uid makes the server
// refuse the patch if the name now belongs to another object.
func (m *RefManager) patchRefs(ctx context.Context, c metav1.Object, refs []metav1.OwnerReference) error {
	p, err := OwnerRefsPatch(c.GetUID(), refs)
	if err != nil {
		return err
	}
	if err := m.Patch(ctx, c.GetNamespace(), c.GetName(), p); err != nil {
		return fmt.Errorf("patch ownerReferences of %s/%s: %w", c.GetNamespace(), c.GetName(), err)
	}
	return nil
}

// OwnerRefsPatch is a JSON merge patch that sets metadata.ownerReferences
// to refs (null when empty), guarded by uid.
func OwnerRefsPatch(uid types.UID, refs []metav1.OwnerReference) ([]byte, error) {
	type meta struct {
		UID             types.UID               `json:"uid"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	}
	return json.Marshal(map[string]meta{"metadata": {UID: uid, OwnerReferences: refs}})
}

// NewControllerRef is the ownerReference an owner puts on what it creates:
// controller=true, blockOwnerDeletion=true.
func NewControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	t := true
	return &metav1.OwnerReference{
		APIVersion:         gvk.GroupVersion().String(),
		Kind:               gvk.Kind,
		Name:               owner.GetName(),
		UID:                owner.GetUID(),
		Controller:         &t,
		BlockOwnerDeletion: &t,
	}
}

// RecheckDeletion returns a CanAdopt function that re-reads the owner with
// get (uncached) and refuses adoption if it is gone, replaced or deleting.
func RecheckDeletion(owner metav1.Object, get func(ctx context.Context) (metav1.Object, error)) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := get(ctx)
		if err != nil {
			return err
		}
		if fresh.GetUID() != owner.GetUID() {
			return fmt.Errorf("original %s/%s is gone: got uid %v, wanted %v", owner.GetNamespace(), owner.GetName(), fresh.GetUID(), owner.GetUID())
		}
		if fresh.GetDeletionTimestamp() != nil {
			return fmt.Errorf("%s/%s has just been deleted at %v", owner.GetNamespace(), owner.GetName(), fresh.GetDeletionTimestamp())
		}
		return nil
	}
}
