package daemonset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

// revisionPatch is what a ControllerRevision of a DaemonSet stores: the
// template as a strategic-merge patch that replaces it, which is what
// `kubectl rollout undo daemonset` applies back (upstream daemon/update.go getPatch).
func revisionPatch(ds *appsv1.DaemonSet) ([]byte, error) {
	tmpl, err := json.Marshal(ds.Spec.Template)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(tmpl, &m); err != nil {
		return nil, err
	}
	m["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
}

// syncRevisions returns the ControllerRevision of ds's current template
// (creating it, or renumbering a matching old one to the newest revision)
// and the hash pods carry as controller-revision-hash. Old revisions
// beyond revisionHistoryLimit that no pod uses are deleted.
func (c *Controller) syncRevisions(ctx context.Context, ds *appsv1.DaemonSet, livePodHashes map[string]bool) (*appsv1.ControllerRevision, error) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	all, err := c.crLister.ControllerRevisions(ds.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	var owned []*appsv1.ControllerRevision
	for _, r := range all {
		if ref := metav1.GetControllerOfNoCopy(r); ref != nil && ref.UID == ds.UID {
			owned = append(owned, r)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i].Revision < owned[j].Revision })
	patch, err := revisionPatch(ds)
	if err != nil {
		return nil, err
	}
	var maxRev int64
	var cur *appsv1.ControllerRevision
	for _, r := range owned {
		maxRev = max(maxRev, r.Revision)
		if bytes.Equal(r.Data.Raw, patch) {
			cur = r
		}
	}
	hash := ctrlutil.ComputeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	switch {
	case cur != nil && cur.Revision < maxRev:
		// A rollback to an old template: it becomes the newest revision.
		cp := cur.DeepCopy()
		cp.Revision = maxRev + 1
		if cur, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, cp, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return nil, fmt.Errorf("renumber controller revision %s: %w", cp.Name, err)
		}
	case cur == nil:
		lbls := labels.Merge(ds.Spec.Template.Labels, labels.Set{appsv1.DefaultDaemonSetUniqueLabelKey: hash})
		cr := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{
				Name: ds.Name + "-" + hash, Namespace: ds.Namespace, Labels: lbls,
				Annotations:     ds.Annotations,
				OwnerReferences: []metav1.OwnerReference{*ctrlutil.NewControllerRef(ds, kind)},
			},
			Data:     runtime.RawExtension{Raw: patch},
			Revision: maxRev + 1,
		}
		cur, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Create(ctx, cr, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) {
			existing, gerr := c.client.AppsV1().ControllerRevisions(ds.Namespace).Get(ctx, cr.Name, metav1.GetOptions{})
			if gerr == nil && bytes.Equal(existing.Data.Raw, patch) {
				cur, err = existing, nil
				break
			}
			// Same name, other content: a hash collision. Bump and retry.
			cp := ds.DeepCopy()
			if cp.Status.CollisionCount == nil {
				cp.Status.CollisionCount = new(int32)
			}
			*cp.Status.CollisionCount++
			if _, uerr := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{FieldManager: fieldManager}); uerr != nil {
				return nil, uerr
			}
			return nil, fmt.Errorf("controller revision %s collides: %w", cr.Name, err)
		}
		if err != nil {
			return nil, fmt.Errorf("create controller revision: %w", err)
		}
	}
	limit := int32(10)
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = *ds.Spec.RevisionHistoryLimit
	}
	var old []*appsv1.ControllerRevision
	for _, r := range owned {
		if r.Name != cur.Name && !livePodHashes[r.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			old = append(old, r)
		}
	}
	for i := 0; i < len(old)-int(limit); i++ {
		err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, old[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("delete old controller revision %s: %w", old[i].Name, err)
		}
	}
	return cur, nil
}
