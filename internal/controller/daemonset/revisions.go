package daemonset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

// syncRevisions returns the ControllerRevision of ds's current template;
// its controller-revision-hash label is what up-to-date pods carry.
func (c *Controller) syncRevisions(ctx context.Context, ds *appsv1.DaemonSet, livePodHashes map[string]bool) (*appsv1.ControllerRevision, error) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	limit := int32(10)
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = *ds.Spec.RevisionHistoryLimit
	}
	cur, _, err := ctrlutil.SyncRevisions(ctx, c.client, c.crLister, ctrlutil.RevisionOwner{
		Object: ds, GVK: kind, Selector: sel, Template: &ds.Spec.Template,
		CollisionCount: ds.Status.CollisionCount, HistoryLimit: limit, FieldManager: fieldManager,
		BumpCollision: func(ctx context.Context) error {
			cp := ds.DeepCopy()
			if cp.Status.CollisionCount == nil {
				cp.Status.CollisionCount = new(int32)
			}
			*cp.Status.CollisionCount++
			_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{FieldManager: fieldManager})
			return err
		},
	}, livePodHashes)
	return cur, err
}
