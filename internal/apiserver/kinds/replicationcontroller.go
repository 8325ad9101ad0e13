package kinds

import (
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func replicationControllerKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		num("Desired", corev1.ReplicationControllerSpec{}.SwaggerDoc()["replicas"]),
		num("Current", corev1.ReplicationControllerStatus{}.SwaggerDoc()["replicas"]),
		num("Ready", corev1.ReplicationControllerStatus{}.SwaggerDoc()["readyReplicas"]),
		ageColumn, containersColumn, imagesColumn, wide("Selector", corev1.ReplicationControllerSpec{}.SwaggerDoc()["selector"])}
	k.Row = func(obj runtime.Object) []interface{} {
		rc := obj.(*corev1.ReplicationController)
		var names, images string
		if rc.Spec.Template != nil {
			names, images = containerCells(rc.Spec.Template.Spec.Containers)
		}
		return []interface{}{rc.Name, int64(derefInt32(rc.Spec.Replicas)), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas),
			age(rc.CreationTimestamp), names, images, labels.FormatLabels(rc.Spec.Selector)}
	}
	// Upstream's SetDefaults_ReplicationController: selector and labels
	// default to the template's labels.
	k.Default = func(obj runtime.Object) {
		rc := obj.(*corev1.ReplicationController)
		if rc.Spec.Template != nil {
			if tl := rc.Spec.Template.Labels; tl != nil {
				if len(rc.Spec.Selector) == 0 {
					rc.Spec.Selector = copyLabels(tl)
				}
				if len(rc.Labels) == 0 {
					rc.Labels = copyLabels(tl)
				}
			}
			defaultPodSpec(&rc.Spec.Template.Spec)
		}
		defaultReplicas(&rc.Spec.Replicas)
	}
	k.PrepareForCreate = func(obj runtime.Object) {
		obj.(*corev1.ReplicationController).Status = corev1.ReplicationControllerStatus{}
	}
	k.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"status.replicas": fmt.Sprint(obj.(*corev1.ReplicationController).Status.Replicas)}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		rc := obj.(*corev1.ReplicationController)
		spec := field.NewPath("spec")
		var errs field.ErrorList
		if rc.Spec.Replicas != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*rc.Spec.Replicas), spec.Child("replicas"))...)
		}
		if len(rc.Spec.Selector) == 0 {
			errs = append(errs, field.Required(spec.Child("selector"), ""))
		} else {
			errs = append(errs, metav1validation.ValidateLabels(rc.Spec.Selector, spec.Child("selector"))...)
		}
		if rc.Spec.Template == nil {
			return append(errs, field.Required(spec.Child("template"), ""))
		}
		if len(rc.Spec.Selector) > 0 && !labels.SelectorFromSet(rc.Spec.Selector).Matches(labels.Set(rc.Spec.Template.Labels)) {
			errs = append(errs, field.Invalid(spec.Child("template", "metadata", "labels"), rc.Spec.Template.Labels, "`selector` does not match template `labels`"))
		}
		errs = append(errs, validatePodTemplateSpec(rc.Spec.Template, spec.Child("template"))...)
		if rc.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
			errs = append(errs, field.NotSupported(spec.Child("template", "spec", "restartPolicy"), rc.Spec.Template.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
		}
		return errs
	}, nil)
	k.GetScale = func(obj runtime.Object) *autoscalingv1.Scale {
		rc := obj.(*corev1.ReplicationController)
		return scaleOf(rc.ObjectMeta, derefInt32(rc.Spec.Replicas), rc.Status.Replicas, labels.SelectorFromSet(rc.Spec.Selector).String())
	}
	k.SetScale = func(obj runtime.Object, replicas int32) {
		obj.(*corev1.ReplicationController).Spec.Replicas = &replicas
	}
}

func copyLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
