package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// kindAdapter lets one controller serve ReplicaSets and
// ReplicationControllers, as upstream does by converting RCs to RSs
// (pkg/controller/replication/conversion.go): the sync logic sees an
// apps/v1 ReplicaSet, the adapter reads and writes the real kind.
type kindAdapter interface {
	gvk() schema.GroupVersionKind
	informer() cache.SharedIndexInformer
	// get returns namespace/name from the cache as a ReplicaSet.
	get(namespace, name string) (*appsv1.ReplicaSet, error)
	list(namespace string) ([]*appsv1.ReplicaSet, error)
	// getFresh reads namespace/name from the API server, bypassing the cache.
	getFresh(ctx context.Context, namespace, name string) (metav1.Object, error)
	// updateStatus writes rs.Status to the real object's status subresource.
	updateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error)
	// original returns the cached object of the real kind, for events.
	original(rs *appsv1.ReplicaSet) runtime.Object
}

type rsAdapter struct {
	client kubernetes.Interface
	inf    informers.SharedInformerFactory
}

var rsKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

func (a rsAdapter) gvk() schema.GroupVersionKind { return rsKind }
func (a rsAdapter) informer() cache.SharedIndexInformer {
	return a.inf.Apps().V1().ReplicaSets().Informer()
}
func (a rsAdapter) get(ns, name string) (*appsv1.ReplicaSet, error) {
	return a.inf.Apps().V1().ReplicaSets().Lister().ReplicaSets(ns).Get(name)
}
func (a rsAdapter) list(ns string) ([]*appsv1.ReplicaSet, error) {
	return a.inf.Apps().V1().ReplicaSets().Lister().ReplicaSets(ns).List(labels.Everything())
}
func (a rsAdapter) getFresh(ctx context.Context, ns, name string) (metav1.Object, error) {
	return a.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
}
func (a rsAdapter) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	return a.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{FieldManager: fieldManager})
}
func (a rsAdapter) original(rs *appsv1.ReplicaSet) runtime.Object { return rs }

type rcAdapter struct {
	client kubernetes.Interface
	inf    informers.SharedInformerFactory
}

var rcKind = corev1.SchemeGroupVersion.WithKind("ReplicationController")

func (a rcAdapter) gvk() schema.GroupVersionKind { return rcKind }
func (a rcAdapter) informer() cache.SharedIndexInformer {
	return a.inf.Core().V1().ReplicationControllers().Informer()
}
func (a rcAdapter) get(ns, name string) (*appsv1.ReplicaSet, error) {
	rc, err := a.inf.Core().V1().ReplicationControllers().Lister().ReplicationControllers(ns).Get(name)
	if err != nil {
		return nil, err
	}
	return rcToRS(rc), nil
}
func (a rcAdapter) list(ns string) ([]*appsv1.ReplicaSet, error) {
	rcs, err := a.inf.Core().V1().ReplicationControllers().Lister().ReplicationControllers(ns).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*appsv1.ReplicaSet, 0, len(rcs))
	for _, rc := range rcs {
		out = append(out, rcToRS(rc))
	}
	return out, nil
}
func (a rcAdapter) getFresh(ctx context.Context, ns, name string) (metav1.Object, error) {
	return a.client.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
}
func (a rcAdapter) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	rc, err := a.inf.Core().V1().ReplicationControllers().Lister().ReplicationControllers(rs.Namespace).Get(rs.Name)
	if err != nil {
		return nil, err
	}
	rc = rc.DeepCopy()
	rc.Status = corev1.ReplicationControllerStatus{
		Replicas:             rs.Status.Replicas,
		FullyLabeledReplicas: rs.Status.FullyLabeledReplicas,
		ReadyReplicas:        rs.Status.ReadyReplicas,
		AvailableReplicas:    rs.Status.AvailableReplicas,
		ObservedGeneration:   rs.Status.ObservedGeneration,
	}
	for _, c := range rs.Status.Conditions {
		rc.Status.Conditions = append(rc.Status.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	updated, err := a.client.CoreV1().ReplicationControllers(rc.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{FieldManager: fieldManager})
	if err != nil {
		return nil, err
	}
	return rcToRS(updated), nil
}
func (a rcAdapter) original(rs *appsv1.ReplicaSet) runtime.Object {
	rc, err := a.inf.Core().V1().ReplicationControllers().Lister().ReplicationControllers(rs.Namespace).Get(rs.Name)
	if err != nil {
		return rs
	}
	return rc
}

// rcToRS converts a ReplicationController to the ReplicaSet the sync logic
// works on. The map selector becomes matchLabels; an empty selector
// defaults to the template's labels as the API server does.
func rcToRS(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"},
		ObjectMeta: *rc.ObjectMeta.DeepCopy(),
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template.DeepCopy()
	}
	sel := rc.Spec.Selector
	if len(sel) == 0 {
		sel = rs.Spec.Template.Labels
	}
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: sel}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return rs
}
