package deployment

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// rolloutStatus is the pure part of syncRolloutStatus.
func rolloutStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, now time.Time) appsv1.DeploymentStatus {
	st := calculateStatus(d, all, newRS, func() metav1.Time { return metav1.NewTime(now) })
	if !hasProgressDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	cur := getCondition(d.Status, appsv1.DeploymentProgressing)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == NewRSAvailableReason
	if hasProgressDeadline(d) && !complete {
		switch {
		case deploymentComplete(d, &st):
			msg := fmt.Sprintf("Deployment %q has successfully progressed.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name)
			}
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, NewRSAvailableReason, msg, now))
		case deploymentProgressing(d, &st):
			msg := fmt.Sprintf("Deployment %q is progressing.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Name)
			}
			c := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReplicaSetUpdatedReason, msg, now)
			// Progress refreshes lastUpdateTime, which restarts the deadline.
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					c.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&st, appsv1.DeploymentProgressing)
			}
			setCondition(&st, c)
		case deploymentTimedOut(d, &st, now):
			msg := fmt.Sprintf("Deployment %q has timed out progressing.", d.Name)
			if newRS != nil {
				msg = fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Name)
			}
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, TimedOutReason, msg, now))
		}
	}
	if f := replicaFailure(all, newRS); f != nil {
		setCondition(&st, appsv1.DeploymentCondition{
			Type: appsv1.DeploymentReplicaFailure, Status: f.Status, Reason: f.Reason, Message: f.Message,
			LastUpdateTime: f.LastTransitionTime, LastTransitionTime: f.LastTransitionTime,
		})
	} else {
		removeCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	return st
}

// replicaFailure surfaces a ReplicaFailure of the new ReplicaSet (first)
// or an old one, e.g. pods refused by quota.
func replicaFailure(all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) *appsv1.ReplicaSetCondition {
	for _, rs := range append([]*appsv1.ReplicaSet{newRS}, all...) {
		if rs == nil {
			continue
		}
		for i := range rs.Status.Conditions {
			if rs.Status.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure {
				return &rs.Status.Conditions[i]
			}
		}
	}
	return nil
}

// rolloutRolling moves one step: grow the new ReplicaSet within
// maxSurge, else shrink old ones within maxUnavailable, else clean up.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, olds, err := c.getAllReplicaSets(ctx, d, rss, true)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)
	scaledUp, err := c.reconcileNewReplicaSet(ctx, all, newRS, d)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, all, filterActive(olds), newRS, d)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, olds); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

func (c *Controller) reconcileNewReplicaSet(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if replicasOf(newRS) == dReplicas(d) {
		return false, nil
	}
	if replicasOf(newRS) > dReplicas(d) {
		return c.scaleReplicaSet(ctx, newRS, dReplicas(d), d)
	}
	return c.scaleReplicaSet(ctx, newRS, newRSNewReplicas(d, all, newRS), d)
}

// reconcileOldReplicaSets scales old ReplicaSets down as far as
// maxUnavailable allows, unhealthy replicas first.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, all, olds []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if specReplicas(olds) == 0 {
		return false, nil
	}
	minAvailable := dReplicas(d) - maxUnavailable(d)
	newUnavailable := replicasOf(newRS) - newRS.Status.AvailableReplicas
	maxScaledDown := specReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	// Scaling down pods that aren't available costs no availability, so
	// do that first, even beyond what availability alone would allow.
	byCreation(olds)
	var cleaned int32
	for _, rs := range olds {
		if cleaned >= maxScaledDown {
			break
		}
		unhealthy := replicasOf(rs) - rs.Status.AvailableReplicas
		if replicasOf(rs) == 0 || unhealthy <= 0 {
			continue
		}
		n := min(maxScaledDown-cleaned, unhealthy)
		if _, err := c.scaleReplicaSet(ctx, rs, replicasOf(rs)-n, d); err != nil {
			return false, err
		}
		cleaned += n
	}
	all = append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)
	_, _, available := statusReplicas(all)
	var scaled int32
	if available > minAvailable {
		total := available - minAvailable
		for _, rs := range olds {
			if scaled >= total {
				break
			}
			if replicasOf(rs) == 0 {
				continue
			}
			n := min(replicasOf(rs), total-scaled)
			if _, err := c.scaleReplicaSet(ctx, rs, replicasOf(rs)-n, d); err != nil {
				return false, err
			}
			scaled += n
		}
	}
	return cleaned+scaled > 0, nil
}

// rolloutRecreate scales every old ReplicaSet to zero, waits until their
// pods are gone, then brings up the new one.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet, sel labels.Selector) error {
	newRS, olds, err := c.getAllReplicaSets(ctx, d, rss, false)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)
	scaledDown := false
	for _, rs := range filterActive(olds) {
		ok, err := c.scaleReplicaSet(ctx, rs, 0, d)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || ok
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	running, err := c.oldPodsRunning(newRS, olds, sel, d.Namespace)
	if err != nil {
		return err
	}
	if running {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if newRS == nil {
		if newRS, olds, err = c.getAllReplicaSets(ctx, d, rss, true); err != nil {
			return err
		}
		all = append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)
	}
	if _, err := c.scaleReplicaSet(ctx, newRS, dReplicas(d), d); err != nil {
		return err
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, olds); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// oldPodsRunning reports whether any pod of an old ReplicaSet is still
// there and not finished.
func (c *Controller) oldPodsRunning(newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet, sel labels.Selector, ns string) (bool, error) {
	replicas, _, _ := statusReplicas(olds)
	if replicas > 0 {
		return true, nil
	}
	pods, err := c.podLister.Pods(ns).List(sel)
	if err != nil {
		return false, err
	}
	oldUIDs := map[string]bool{}
	for _, rs := range olds {
		oldUIDs[string(rs.UID)] = true
	}
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil || !oldUIDs[string(ref.UID)] || (newRS != nil && ref.UID == newRS.UID) {
			continue
		}
		if p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			return true, nil
		}
	}
	return false, nil
}
