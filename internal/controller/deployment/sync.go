package deployment

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth-dev/berth/internal/controller/ctrlutil"
)

// syncScale handles a paused Deployment or a resize mid-rollout: scale,
// clean up history if paused, write status.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, olds, err := c.getAllReplicaSets(ctx, d, rss, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, olds); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, olds); err != nil {
			return err
		}
	}
	return c.syncStatus(ctx, d, append(olds, newRS), newRS)
}

// syncStatusOnly writes status of a Deployment being deleted.
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, olds, err := c.getAllReplicaSets(ctx, d, rss, false)
	if err != nil {
		return err
	}
	return c.syncStatus(ctx, d, append(olds, newRS), newRS)
}

// getAllReplicaSets returns the new ReplicaSet (creating it if asked and
// missing) and all old ones, and syncs the revision annotations.
func (c *Controller) getAllReplicaSets(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	_, olds := findOldReplicaSets(d, rss)
	newRS, err := c.getNewReplicaSet(ctx, d, rss, olds, create)
	if err != nil {
		return nil, nil, err
	}
	return newRS, olds, nil
}

func (c *Controller) getNewReplicaSet(ctx context.Context, d *appsv1.Deployment, rss, olds []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	existing := findNewReplicaSet(d, rss)
	newRevision := strconv.FormatInt(maxRevision(olds)+1, 10)
	now := c.clock.Now()
	if existing != nil {
		rs := existing.DeepCopy()
		annotationsChanged := setNewRSAnnotations(d, rs, newRevision, true)
		if annotationsChanged || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			updated, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{FieldManager: fieldManager})
			if err != nil {
				return nil, fmt.Errorf("update replica set %s: %w", rs.Name, err)
			}
			return updated, nil
		}
		needsUpdate := setDeploymentRevision(d, rs.Annotations[RevisionAnnotation])
		if hasProgressDeadline(d) && getCondition(d.Status, appsv1.DeploymentProgressing) == nil {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, FoundNewRSReason, fmt.Sprintf("Found new replica set %q", rs.Name), now))
			needsUpdate = true
		}
		if needsUpdate {
			if err := c.updateDeploymentStatus(ctx, d); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}
	tmpl := *d.Spec.Template.DeepCopy()
	hash := ctrlutil.ComputeHash(&tmpl, d.Status.CollisionCount)
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[PodTemplateHashLabel] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[PodTemplateHashLabel] = hash
	zero := int32(0)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*ctrlutil.NewControllerRef(d, kind)},
			Labels:          tmpl.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: tmpl},
	}
	n := newRSNewReplicas(d, append(olds, rs), rs)
	rs.Spec.Replicas = &n
	setNewRSAnnotations(d, rs, newRevision, false)
	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{FieldManager: fieldManager})
	alreadyExists := false
	switch {
	case apierrors.IsAlreadyExists(err):
		alreadyExists = true
		cur, getErr := c.rsLister.ReplicaSets(d.Namespace).Get(rs.Name)
		if getErr == nil {
			if ref := metav1.GetControllerOfNoCopy(cur); ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &cur.Spec.Template) {
				created, err = cur, nil
				break
			}
		}
		// A hash collision with somebody else's ReplicaSet: bump the
		// collision count so the next sync computes another name.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if uerr := c.updateDeploymentStatus(ctx, d); uerr != nil {
			return nil, uerr
		}
		return nil, fmt.Errorf("replica set %s exists and isn't ours: %w", rs.Name, err)
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, FailedRSCreateReason, msg, now))
			_ = c.updateDeploymentStatus(ctx, d) // best effort; the create error below is what gets retried
		}
		c.recorder.Event(d, corev1.EventTypeWarning, FailedRSCreateReason, msg)
		return nil, fmt.Errorf("create replica set %s: %w", rs.Name, err)
	}
	if !alreadyExists && n > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	needsUpdate := setDeploymentRevision(d, newRevision)
	if !alreadyExists && hasProgressDeadline(d) {
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, NewReplicaSetReason, fmt.Sprintf("Created new replica set %q", created.Name), now))
		needsUpdate = true
	}
	if needsUpdate {
		if err := c.updateDeploymentStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	return created, nil
}

func setDeploymentRevision(d *appsv1.Deployment, rev string) bool {
	if d.Annotations[RevisionAnnotation] == rev {
		return false
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[RevisionAnnotation] = rev
	return true
}

// updateDeploymentStatus writes d's status (and, as upstream, its revision
// annotation) and refreshes d from the answer. If the status subresource
// dropped the annotation, it is written with a plain update.
func (c *Controller) updateDeploymentStatus(ctx context.Context, d *appsv1.Deployment) error {
	want := d.Annotations[RevisionAnnotation]
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		return fmt.Errorf("update status of %s/%s: %w", d.Namespace, d.Name, err)
	}
	if want != "" && updated.Annotations[RevisionAnnotation] != want {
		setDeploymentRevision(updated, want)
		if updated, err = c.client.AppsV1().Deployments(d.Namespace).Update(ctx, updated, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("set revision of %s/%s: %w", d.Namespace, d.Name, err)
		}
	}
	*d = *updated
	return nil
}

// scale resizes ReplicaSets after a Deployment resize: the only active
// one takes the new size; mid-rollout every active one gets its share
// (proportional scaling), the leftover going to the largest/newest.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) error {
	if rs := findActiveOrLatest(newRS, olds); rs != nil {
		if replicasOf(rs) == dReplicas(d) {
			return nil
		}
		_, err := c.scaleReplicaSet(ctx, rs, dReplicas(d), d)
		return err
	}
	if isSaturated(d, newRS) {
		for _, old := range filterActive(olds) {
			if _, err := c.scaleReplicaSet(ctx, old, 0, d); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRolling(d) {
		return nil
	}
	all := filterActive(append(append([]*appsv1.ReplicaSet(nil), olds...), newRS))
	allowed := int32(0)
	if dReplicas(d) > 0 {
		allowed = dReplicas(d) + maxSurge(d)
	}
	toAdd := allowed - specReplicas(all)
	sortBySize(all, toAdd > 0)
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		p := int32(0)
		if toAdd != 0 {
			p = proportion(rs, d, toAdd, added)
		}
		sizes[i] = replicasOf(rs) + p
		added += p
	}
	if toAdd != 0 && len(all) > 0 {
		sizes[0] = max(sizes[0]+toAdd-added, 0)
	}
	for i, rs := range all {
		if _, err := c.scaleReplicaSet(ctx, rs, sizes[i], d); err != nil {
			return err
		}
	}
	return nil
}

// sortBySize orders largest first; ties go newer first when growing and
// older first when shrinking (upstream ReplicaSetsBySizeNewer/Older).
func sortBySize(rss []*appsv1.ReplicaSet, newerFirst bool) {
	sort.SliceStable(rss, func(i, j int) bool {
		if replicasOf(rss[i]) != replicasOf(rss[j]) {
			return replicasOf(rss[i]) > replicasOf(rss[j])
		}
		ti, tj := rss[i].CreationTimestamp, rss[j].CreationTimestamp
		if newerFirst {
			return tj.Before(&ti)
		}
		return ti.Before(&tj)
	})
}

// scaleReplicaSet sets rs's size and replicas annotations and records a
// ScalingReplicaSet event on the Deployment. It reports whether rs was resized.
func (c *Controller) scaleReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, size int32, d *appsv1.Deployment) (bool, error) {
	resize := replicasOf(rs) != size
	cp := rs.DeepCopy()
	annotations := setReplicasAnnotations(cp, dReplicas(d), dReplicas(d)+maxSurge(d))
	if !resize && !annotations {
		return false, nil
	}
	cp.Spec.Replicas = &size
	updated, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, cp, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		return false, fmt.Errorf("scale replica set %s to %d: %w", rs.Name, size, err)
	}
	if resize {
		op := "down"
		if replicasOf(rs) < size {
			op = "up"
		}
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", op, rs.Name, replicasOf(rs), size)
	}
	*rs = *updated
	return resize, nil
}

// cleanup deletes the oldest empty old ReplicaSets beyond revisionHistoryLimit.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, olds []*appsv1.ReplicaSet) error {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range olds {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(alive, func(i, j int) bool {
		ri, rj := revision(alive[i]), revision(alive[j])
		if ri != rj {
			return ri < rj
		}
		return alive[i].CreationTimestamp.Before(&alive[j].CreationTimestamp)
	})
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || replicasOf(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rs.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old replica set %s: %w", rs.Name, err)
		}
	}
	return nil
}

// calculateStatus is d's status from its ReplicaSets, with the Available condition.
func calculateStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now func() metav1.Time) appsv1.DeploymentStatus {
	replicas, ready, available := statusReplicas(all)
	updated, _, _ := statusReplicas([]*appsv1.ReplicaSet{newRS})
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            replicas,
		UpdatedReplicas:     updated,
		ReadyReplicas:       ready,
		AvailableReplicas:   available,
		UnavailableReplicas: max(specReplicas(all)-available, 0),
		CollisionCount:      d.Status.CollisionCount,
	}
	st.Conditions = append(st.Conditions, d.Status.Conditions...)
	if available >= dReplicas(d)-maxUnavailable(d) {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, MinimumReplicasAvailable, "Deployment has minimum availability.", now().Time))
	} else {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, MinimumReplicasUnavailable, "Deployment does not have minimum availability.", now().Time))
	}
	return st
}

func (c *Controller) now() metav1.Time { return metav1.NewTime(c.clock.Now()) }

// syncStatus writes the calculated status if it changed.
func (c *Controller) syncStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	st := calculateStatus(d, all, newRS, c.now)
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		return nil
	}
	d.Status = st
	return c.updateDeploymentStatus(ctx, d)
}

// syncRolloutStatus writes status plus the Progressing condition:
// NewReplicaSetAvailable when complete, ReplicaSetUpdated while it moves,
// ProgressDeadlineExceeded when it stalled past the deadline.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	st := rolloutStatus(d, all, newRS, c.clock.Now())
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		c.requeueStuck(d, st)
		return nil
	}
	d.Status = st
	return c.updateDeploymentStatus(ctx, d)
}
