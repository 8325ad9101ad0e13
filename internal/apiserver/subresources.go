package apiserver

import (
	"fmt"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

func (s *Server) scaleOf(rq *request, obj runtime.Object) (*autoscalingv1.Scale, error) {
	if rq.kind.GetScale == nil {
		return nil, apierrors.NewNotFound(gr(rq.kind), rq.name)
	}
	sc := rq.kind.GetScale(obj)
	m := metaOf(obj)
	sc.TypeMeta = metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"}
	sc.Name, sc.Namespace, sc.UID = m.GetName(), m.GetNamespace(), m.GetUID()
	sc.ResourceVersion, sc.CreationTimestamp = m.GetResourceVersion(), m.GetCreationTimestamp()
	return sc, nil
}

// serveScale serves GET/PUT/PATCH of the autoscaling/v1 Scale of a
// workload: writes change only the parent's spec.replicas.
func (s *Server) serveScale(rq *request) error {
	if rq.verb == "get" {
		obj, err := s.getServed(rq.r.Context(), rq.kind, rq.namespace, rq.name)
		if err != nil {
			return err
		}
		sc, err := s.scaleOf(rq, obj)
		if err != nil {
			return err
		}
		writeObject(rq.w, http.StatusOK, sc)
		return nil
	}
	if rq.verb != "update" && rq.verb != "patch" {
		return apierrors.NewMethodNotSupported(gr(rq.kind), rq.r.Method)
	}
	dryRun, err := isDryRun(rq)
	if err != nil {
		return err
	}
	fv, err := parseFieldValidation(rq.q)
	if err != nil {
		return err
	}
	body, err := readBody(rq.r)
	if err != nil {
		return err
	}
	var pf patchFunc
	var requested *autoscalingv1.Scale
	if rq.verb == "patch" {
		if pf, err = patcher(rq, body, &autoscalingv1.Scale{}); err != nil {
			return err
		}
	} else {
		obj, err := decodeBody(rq.w, rq.r, body, scaleGVK, &autoscalingv1.Scale{}, fv)
		if err != nil {
			return err
		}
		requested = obj.(*autoscalingv1.Scale)
	}
	manager := managerName(rq.q.Get("fieldManager"), rq.r.UserAgent())
	out, _, err := s.updateObject(rq, dryRun, manager, false, func(cur runtime.Object) (runtime.Object, error) {
		curScale, err := s.scaleOf(rq, cur)
		if err != nil {
			return nil, err
		}
		want := requested
		if pf != nil {
			js, err := encodeJSON(curScale)
			if err != nil {
				return nil, err
			}
			if js, err = pf(js); err != nil {
				return nil, err
			}
			obj, err := decodeAs(rq.w, "application/json", js, scaleGVK, &autoscalingv1.Scale{}, fv)
			if err != nil {
				return nil, err
			}
			want = obj.(*autoscalingv1.Scale)
		}
		if want.ResourceVersion != "" && want.ResourceVersion != curScale.ResourceVersion {
			return nil, conflict(rq.kind, rq.name)
		}
		if want.Spec.Replicas < 0 {
			return nil, invalid(rq.kind, rq.name, nil)
		}
		rq.kind.SetScale(cur, want.Spec.Replicas)
		return cur, nil
	})
	if err != nil {
		return err
	}
	sc, err := s.scaleOf(rq, out)
	if err != nil {
		return err
	}
	writeObject(rq.w, http.StatusOK, sc)
	return nil
}

// serveBinding assigns a pod to a node (POST pods/NAME/binding), as the
// scheduler does; a pod is bound once.
func (s *Server) serveBinding(rq *request) error {
	if rq.verb != "create" {
		return apierrors.NewMethodNotSupported(gr(rq.kind), rq.r.Method)
	}
	body, err := readBody(rq.r)
	if err != nil {
		return err
	}
	obj, err := decodeBody(rq.w, rq.r, body, corev1.SchemeGroupVersion.WithKind("Binding"), &corev1.Binding{}, validationStrict)
	if err != nil {
		return err
	}
	b := obj.(*corev1.Binding)
	if b.Target.Name == "" || (b.Target.Kind != "" && b.Target.Kind != "Node") {
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), b.Name, nil)
	}
	bindingGR := gr(rq.kind)
	bindingGR.Resource = "pods/binding"
	_, err = s.cfg.Store.GuaranteedUpdate(rq.r.Context(), s.key(rq.kind, rq.namespace, rq.name), false, func(cur runtime.Object) (runtime.Object, error) {
		pod, ok := cur.(*corev1.Pod)
		if !ok {
			return nil, fmt.Errorf("binding: stored object is %T", cur)
		}
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(bindingGR, rq.name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(bindingGR, rq.name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(bindingGR, rq.name, fmt.Errorf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodScheduled(pod)
		return pod, nil
	})
	if err != nil {
		return s.apiError(rq.kind, rq.name, err)
	}
	writeObject(rq.w, http.StatusCreated, successStatus(http.StatusCreated))
	return nil
}

func setPodScheduled(pod *corev1.Pod) {
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}
	for i, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			pod.Status.Conditions[i] = cond
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, cond)
}

func successStatus(code int) *metav1.Status {
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: int32(code)}
}

// serveEviction deletes a pod through pods/NAME/eviction. berth has no
// PodDisruptionBudget checks, so every eviction is allowed.
func (s *Server) serveEviction(rq *request) error {
	if rq.verb != "create" {
		return apierrors.NewMethodNotSupported(gr(rq.kind), rq.r.Method)
	}
	body, err := readBody(rq.r)
	if err != nil {
		return err
	}
	obj, err := decodeBody(rq.w, rq.r, body, policyv1.SchemeGroupVersion.WithKind("Eviction"), &policyv1.Eviction{}, validationIgnore)
	if err != nil {
		return err
	}
	opts := &metav1.DeleteOptions{}
	if ev, ok := obj.(*policyv1.Eviction); ok && ev.DeleteOptions != nil {
		opts = ev.DeleteOptions
	}
	if _, _, err := s.deleteObject(rq.r.Context(), rq, rq.name, opts); err != nil {
		return err
	}
	writeObject(rq.w, http.StatusCreated, successStatus(http.StatusCreated))
	return nil
}
