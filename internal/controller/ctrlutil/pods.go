package ctrlutil

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// Event reasons shared by everything that creates and deletes pods
// (upstream controller_utils.go).
const (
	FailedCreatePodReason     = "FailedCreate"
	SuccessfulCreatePodReason = "SuccessfulCreate"
	FailedDeletePodReason     = "FailedDelete"
	SuccessfulDeletePodReason = "SuccessfulDelete"
)

// PodControl creates and deletes pods on behalf of an owner. It is an
// interface so controller tests can count calls without an API server.
type PodControl interface {
	// CreatePod creates a pod from template in namespace, controlled by
	// owner. mutate, if not nil, edits the pod before it is sent.
	CreatePod(ctx context.Context, namespace string, template *corev1.PodTemplateSpec, owner runtime.Object, ref *metav1.OwnerReference, mutate func(*corev1.Pod)) (*corev1.Pod, error)
	// DeletePod deletes namespace/name, an owner's pod, with uid as precondition.
	DeletePod(ctx context.Context, namespace, name string, uid types.UID, owner runtime.Object) error
}

// RealPodControl is the PodControl that talks to the API server.
type RealPodControl struct {
	Client       kubernetes.Interface
	Recorder     record.EventRecorder
	FieldManager string
}

// CreatePod implements PodControl and records SuccessfulCreate/FailedCreate on owner.
func (r RealPodControl) CreatePod(ctx context.Context, namespace string, template *corev1.PodTemplateSpec, owner runtime.Object, ref *metav1.OwnerReference, mutate func(*corev1.Pod)) (*corev1.Pod, error) {
	pod := PodFromTemplate(template, ref)
	if mutate != nil {
		mutate(pod)
	}
	if len(pod.Labels) == 0 {
		return nil, fmt.Errorf("unable to create pods, no labels")
	}
	created, err := r.Client.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{FieldManager: r.FieldManager})
	if err != nil {
		r.Recorder.Eventf(owner, corev1.EventTypeWarning, FailedCreatePodReason, "Error creating: %v", err)
		return nil, err
	}
	r.Recorder.Eventf(owner, corev1.EventTypeNormal, SuccessfulCreatePodReason, "Created pod: %v", created.Name)
	return created, nil
}

// DeletePod implements PodControl and records SuccessfulDelete/FailedDelete on owner.
func (r RealPodControl) DeletePod(ctx context.Context, namespace, name string, uid types.UID, owner runtime.Object) error {
	err := r.Client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil {
		r.Recorder.Eventf(owner, corev1.EventTypeWarning, FailedDeletePodReason, "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s/%s: %w", namespace, name, err)
	}
	r.Recorder.Eventf(owner, corev1.EventTypeNormal, SuccessfulDeletePodReason, "Deleted pod: %v", name)
	return nil
}

// PodFromTemplate builds the pod an owner creates: generateName
// "<owner>-", the template's labels, annotations and spec, and ref.
func PodFromTemplate(template *corev1.PodTemplateSpec, ref *metav1.OwnerReference) *corev1.Pod {
	t := template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      t.Labels,
			Annotations: t.Annotations,
			Finalizers:  t.Finalizers,
		},
		Spec: t.Spec,
	}
	if ref != nil {
		pod.GenerateName = ref.Name + "-"
		pod.OwnerReferences = append(pod.OwnerReferences, *ref)
	}
	return pod
}

// IsPodActive reports whether the pod counts toward an owner's replicas:
// not finished and not being deleted.
func IsPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// FilterActivePods returns the active pods of pods.
func FilterActivePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// PodReadyCondition returns the pod's Ready condition, or nil.
func PodReadyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// IsPodReady reports whether the pod's Ready condition is True.
func IsPodReady(p *corev1.Pod) bool {
	c := PodReadyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsPodAvailable reports whether the pod has been ready for at least
// minReadySeconds at now.
func IsPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := PodReadyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	d := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(d).Before(now)
}

// ControllerKey returns the queue key of obj's controller if it is of gvk.
func ControllerKey(obj metav1.Object, gvk schema.GroupVersionKind) (string, types.UID, bool) {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != gvk.Kind {
		return "", "", false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || gv.Group != gvk.Group {
		return "", "", false
	}
	return obj.GetNamespace() + "/" + ref.Name, ref.UID, true
}
