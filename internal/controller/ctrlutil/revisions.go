package ctrlutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
)

// RevisionData is what a DaemonSet's or StatefulSet's ControllerRevision
// stores: the template as a strategic-merge patch that replaces it, which
// is what `kubectl rollout undo` applies back (upstream getPatch).
func RevisionData(template *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	m["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
}

// RevisionTemplate reads the template back out of a revision's data.
func RevisionTemplate(r *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var d struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(r.Data.Raw, &d); err != nil {
		return nil, fmt.Errorf("decode controller revision %s: %w", r.Name, err)
	}
	return &d.Spec.Template, nil
}

// RevisionOwner is a workload whose templates are kept as ControllerRevisions.
type RevisionOwner struct {
	Object         metav1.Object
	GVK            schema.GroupVersionKind
	Selector       labels.Selector
	Template       *corev1.PodTemplateSpec
	CollisionCount *int32
	HistoryLimit   int32
	// BumpCollision persists CollisionCount+1 after a hash collision.
	BumpCollision func(ctx context.Context) error
	FieldManager  string
}

// SyncRevisions returns the owner's revisions (oldest first) and the one
// of its current template, creating it or renumbering a matching old one
// to the newest revision (a rollback). Revisions beyond HistoryLimit that
// are not in keep (hashes still in use) are deleted.
func SyncRevisions(ctx context.Context, client kubernetes.Interface, lister appslisters.ControllerRevisionLister, o RevisionOwner, keep map[string]bool) (*appsv1.ControllerRevision, []*appsv1.ControllerRevision, error) {
	ns := o.Object.GetNamespace()
	all, err := lister.ControllerRevisions(ns).List(o.Selector)
	if err != nil {
		return nil, nil, err
	}
	var owned []*appsv1.ControllerRevision
	for _, r := range all {
		if ref := metav1.GetControllerOfNoCopy(r); ref != nil && ref.UID == o.Object.GetUID() {
			owned = append(owned, r)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i].Revision < owned[j].Revision })
	data, err := RevisionData(o.Template)
	if err != nil {
		return nil, nil, err
	}
	var maxRev int64
	var cur *appsv1.ControllerRevision
	for _, r := range owned {
		maxRev = max(maxRev, r.Revision)
		if bytes.Equal(r.Data.Raw, data) {
			cur = r
		}
	}
	revs := client.AppsV1().ControllerRevisions(ns)
	switch {
	case cur != nil && cur.Revision < maxRev:
		cp := cur.DeepCopy()
		cp.Revision = maxRev + 1
		if cur, err = revs.Update(ctx, cp, metav1.UpdateOptions{FieldManager: o.FieldManager}); err != nil {
			return nil, nil, fmt.Errorf("renumber controller revision %s: %w", cp.Name, err)
		}
	case cur == nil:
		hash := ComputeHash(o.Template, o.CollisionCount)
		cr := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{
				Name: o.Object.GetName() + "-" + hash, Namespace: ns,
				Labels:          labels.Merge(o.Template.Labels, labels.Set{appsv1.ControllerRevisionHashLabelKey: hash}),
				OwnerReferences: []metav1.OwnerReference{*NewControllerRef(o.Object, o.GVK)},
			},
			Data:     runtime.RawExtension{Raw: data},
			Revision: maxRev + 1,
		}
		cur, err = revs.Create(ctx, cr, metav1.CreateOptions{FieldManager: o.FieldManager})
		if apierrors.IsAlreadyExists(err) {
			existing, gerr := revs.Get(ctx, cr.Name, metav1.GetOptions{})
			if gerr == nil && bytes.Equal(existing.Data.Raw, data) {
				cur, err = existing, nil
				break
			}
			// Same name, other content: a hash collision; the next sync
			// hashes with the bumped count.
			if berr := o.BumpCollision(ctx); berr != nil {
				return nil, nil, berr
			}
			return nil, nil, fmt.Errorf("controller revision %s collides: %w", cr.Name, err)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("create controller revision: %w", err)
		}
		owned = append(owned, cur)
	}
	var old []*appsv1.ControllerRevision
	for _, r := range owned {
		if r.Name != cur.Name && !keep[r.Labels[appsv1.ControllerRevisionHashLabelKey]] {
			old = append(old, r)
		}
	}
	for i := 0; i < len(old)-int(o.HistoryLimit); i++ {
		if err := revs.Delete(ctx, old[i].Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("delete old controller revision %s: %w", old[i].Name, err)
		}
	}
	return cur, owned, nil
}
