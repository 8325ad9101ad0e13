package kinds

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Workloads: ReplicationControllers and the apps/v1 kinds. Defaults are
// upstream's pkg/apis/apps/v1/defaults.go, validation the selector/template
// rules of pkg/apis/apps/validation, rows upstream's printers.

var (
	containersColumn = wide("Containers", "Names of each container in the template.")
	imagesColumn     = wide("Images", "Images referenced by each container in the template.")
)

func int32Ptr(v int32) *int32 { return &v }

func defaultReplicas(r **int32) {
	if *r == nil {
		*r = int32Ptr(1)
	}
}

// validateWorkload checks what ReplicaSets, Deployments, DaemonSets and
// StatefulSets share: replicas, a non-empty selector that matches the
// template's labels, a valid template with restartPolicy Always.
func validateWorkload(replicas *int32, selector *metav1.LabelSelector, template *corev1.PodTemplateSpec, kind string) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if replicas != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*replicas), spec.Child("replicas"))...)
	}
	if selector == nil {
		errs = append(errs, field.Required(spec.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(selector, metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))...)
		if len(selector.MatchLabels)+len(selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(spec.Child("selector"), selector, "empty selector is invalid for "+kind))
		}
	}
	if sel, err := metav1.LabelSelectorAsSelector(selector); err == nil && selector != nil && !sel.Empty() &&
		!sel.Matches(labels.Set(template.Labels)) {
		errs = append(errs, field.Invalid(spec.Child("template", "metadata", "labels"), template.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, validatePodTemplateSpec(template, spec.Child("template"))...)
	if template.Spec.RestartPolicy != corev1.RestartPolicyAlways && template.Spec.RestartPolicy != "" {
		errs = append(errs, field.NotSupported(spec.Child("template", "spec", "restartPolicy"), template.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	return errs
}

// validateSelectorUnchanged is apps/v1's immutable selector rule.
func validateSelectorUnchanged(selector, old *metav1.LabelSelector) field.ErrorList {
	if !apiequality.Semantic.DeepEqual(selector, old) {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "selector"), selector, "field is immutable")}
	}
	return nil
}

// scaleOf builds the scale subresource's view of a workload.
func scaleOf(meta metav1.ObjectMeta, specReplicas, statusReplicas int32, selector string) *autoscalingv1.Scale {
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: meta.Name, Namespace: meta.Namespace, UID: meta.UID,
			ResourceVersion: meta.ResourceVersion, CreationTimestamp: meta.CreationTimestamp},
		Spec:   autoscalingv1.ScaleSpec{Replicas: specReplicas},
		Status: autoscalingv1.ScaleStatus{Replicas: statusReplicas, Selector: selector},
	}
}

func labelSelectorText(s *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return ""
	}
	return sel.String()
}

func deploymentKind(k *Kind) {
	dd := appsv1.DeploymentStatus{}.SwaggerDoc()
	k.Columns = []metav1.TableColumnDefinition{nameColumn, str("Ready", "Number of the pod with ready state"),
		str("Up-to-date", dd["updatedReplicas"]), str("Available", dd["availableReplicas"]), ageColumn,
		containersColumn, imagesColumn, wide("Selector", appsv1.DeploymentSpec{}.SwaggerDoc()["selector"])}
	k.Row = func(obj runtime.Object) []interface{} {
		d := obj.(*appsv1.Deployment)
		names, images := containerCells(d.Spec.Template.Spec.Containers)
		selector := "<invalid>"
		if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
			selector = sel.String()
		}
		return []interface{}{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, derefInt32(d.Spec.Replicas)),
			int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), age(d.CreationTimestamp), names, images, selector}
	}
	k.Default = func(obj runtime.Object) {
		d := obj.(*appsv1.Deployment)
		defaultReplicas(&d.Spec.Replicas)
		if d.Spec.Strategy.Type == "" {
			d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
		}
		if d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
			if d.Spec.Strategy.RollingUpdate == nil {
				d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
			}
			quarter := intstr.FromString("25%")
			if d.Spec.Strategy.RollingUpdate.MaxUnavailable == nil {
				d.Spec.Strategy.RollingUpdate.MaxUnavailable = &quarter
			}
			if d.Spec.Strategy.RollingUpdate.MaxSurge == nil {
				surge := quarter
				d.Spec.Strategy.RollingUpdate.MaxSurge = &surge
			}
		}
		if d.Spec.RevisionHistoryLimit == nil {
			d.Spec.RevisionHistoryLimit = int32Ptr(10)
		}
		if d.Spec.ProgressDeadlineSeconds == nil {
			d.Spec.ProgressDeadlineSeconds = int32Ptr(600)
		}
		defaultPodSpec(&d.Spec.Template.Spec)
	}
	k.PrepareForCreate = func(obj runtime.Object) { obj.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{} }
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		d := obj.(*appsv1.Deployment)
		errs := validateWorkload(d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template, "deployment")
		if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType && d.Spec.Strategy.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "strategy", "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
		if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxSurge != nil && ru.MaxUnavailable != nil &&
			intstr.FromInt32(0) == *ru.MaxSurge && intstr.FromInt32(0) == *ru.MaxUnavailable {
			errs = append(errs, field.Invalid(field.NewPath("spec", "strategy", "rollingUpdate", "maxUnavailable"), ru.MaxUnavailable.String(), "may not be 0 when `maxSurge` is 0"))
		}
		return errs
	}, func(obj, old runtime.Object) field.ErrorList {
		return validateSelectorUnchanged(obj.(*appsv1.Deployment).Spec.Selector, old.(*appsv1.Deployment).Spec.Selector)
	})
	k.GetScale = func(obj runtime.Object) *autoscalingv1.Scale {
		d := obj.(*appsv1.Deployment)
		return scaleOf(d.ObjectMeta, derefInt32(d.Spec.Replicas), d.Status.Replicas, labelSelectorText(d.Spec.Selector))
	}
	k.SetScale = func(obj runtime.Object, replicas int32) { obj.(*appsv1.Deployment).Spec.Replicas = &replicas }
}

func derefInt32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func replicaSetKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		num("Desired", appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
		num("Current", appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
		num("Ready", appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
		ageColumn, containersColumn, imagesColumn, wide("Selector", appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"])}
	k.Row = func(obj runtime.Object) []interface{} {
		rs := obj.(*appsv1.ReplicaSet)
		names, images := containerCells(rs.Spec.Template.Spec.Containers)
		return []interface{}{rs.Name, int64(derefInt32(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
			age(rs.CreationTimestamp), names, images, metav1.FormatLabelSelector(rs.Spec.Selector)}
	}
	k.Default = func(obj runtime.Object) {
		rs := obj.(*appsv1.ReplicaSet)
		defaultReplicas(&rs.Spec.Replicas)
		defaultPodSpec(&rs.Spec.Template.Spec)
	}
	k.PrepareForCreate = func(obj runtime.Object) { obj.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{} }
	k.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"status.replicas": fmt.Sprint(obj.(*appsv1.ReplicaSet).Status.Replicas)}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		rs := obj.(*appsv1.ReplicaSet)
		return validateWorkload(rs.Spec.Replicas, rs.Spec.Selector, &rs.Spec.Template, "replicaset")
	}, func(obj, old runtime.Object) field.ErrorList {
		return validateSelectorUnchanged(obj.(*appsv1.ReplicaSet).Spec.Selector, old.(*appsv1.ReplicaSet).Spec.Selector)
	})
	k.GetScale = func(obj runtime.Object) *autoscalingv1.Scale {
		rs := obj.(*appsv1.ReplicaSet)
		return scaleOf(rs.ObjectMeta, derefInt32(rs.Spec.Replicas), rs.Status.Replicas, labelSelectorText(rs.Spec.Selector))
	}
	k.SetScale = func(obj runtime.Object, replicas int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &replicas }
}

func statefulSetKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn, str("Ready", "Number of the pod with ready state"), ageColumn,
		containersColumn, imagesColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		s := obj.(*appsv1.StatefulSet)
		names, images := containerCells(s.Spec.Template.Spec.Containers)
		return []interface{}{s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, derefInt32(s.Spec.Replicas)), age(s.CreationTimestamp), names, images}
	}
	k.Default = func(obj runtime.Object) {
		s := obj.(*appsv1.StatefulSet)
		defaultReplicas(&s.Spec.Replicas)
		if s.Spec.PodManagementPolicy == "" {
			s.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
		}
		if s.Spec.UpdateStrategy.Type == "" {
			s.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		}
		if s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
			if s.Spec.UpdateStrategy.RollingUpdate == nil {
				s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
			}
			if s.Spec.UpdateStrategy.RollingUpdate.Partition == nil {
				s.Spec.UpdateStrategy.RollingUpdate.Partition = int32Ptr(0)
			}
		}
		if s.Spec.RevisionHistoryLimit == nil {
			s.Spec.RevisionHistoryLimit = int32Ptr(10)
		}
		if s.Spec.PersistentVolumeClaimRetentionPolicy == nil {
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
		}
		if s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted == "" {
			s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
		}
		if s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled == "" {
			s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
		}
		for i := range s.Spec.VolumeClaimTemplates {
			if s.Spec.VolumeClaimTemplates[i].Spec.VolumeMode == nil {
				fs := corev1.PersistentVolumeFilesystem
				s.Spec.VolumeClaimTemplates[i].Spec.VolumeMode = &fs
			}
		}
		defaultPodSpec(&s.Spec.Template.Spec)
	}
	k.PrepareForCreate = func(obj runtime.Object) { obj.(*appsv1.StatefulSet).Status = appsv1.StatefulSetStatus{} }
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		s := obj.(*appsv1.StatefulSet)
		return validateWorkload(s.Spec.Replicas, s.Spec.Selector, &s.Spec.Template, "statefulset")
	}, func(obj, old runtime.Object) field.ErrorList {
		s, o := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
		// Upstream allows only replicas, ordinals, template, updateStrategy,
		// revisionHistoryLimit, persistentVolumeClaimRetentionPolicy and
		// minReadySeconds to change.
		mutated := o.Spec.DeepCopy()
		mutated.Replicas, mutated.Ordinals, mutated.Template = s.Spec.Replicas, s.Spec.Ordinals, s.Spec.Template
		mutated.UpdateStrategy, mutated.RevisionHistoryLimit = s.Spec.UpdateStrategy, s.Spec.RevisionHistoryLimit
		mutated.PersistentVolumeClaimRetentionPolicy, mutated.MinReadySeconds = s.Spec.PersistentVolumeClaimRetentionPolicy, s.Spec.MinReadySeconds
		if !apiequality.Semantic.DeepEqual(mutated, &s.Spec) {
			return field.ErrorList{field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")}
		}
		return nil
	})
	k.GetScale = func(obj runtime.Object) *autoscalingv1.Scale {
		s := obj.(*appsv1.StatefulSet)
		return scaleOf(s.ObjectMeta, derefInt32(s.Spec.Replicas), s.Status.Replicas, labelSelectorText(s.Spec.Selector))
	}
	k.SetScale = func(obj runtime.Object, replicas int32) { obj.(*appsv1.StatefulSet).Spec.Replicas = &replicas }
}

func daemonSetKind(k *Kind) {
	sd := appsv1.DaemonSetStatus{}.SwaggerDoc()
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		num("Desired", sd["desiredNumberScheduled"]), num("Current", sd["currentNumberScheduled"]),
		num("Ready", sd["numberReady"]), num("Up-to-date", sd["updatedNumberScheduled"]),
		num("Available", sd["numberAvailable"]), str("Node Selector", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
		ageColumn, containersColumn, imagesColumn, wide("Selector", appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"])}
	k.Row = func(obj runtime.Object) []interface{} {
		d := obj.(*appsv1.DaemonSet)
		names, images := containerCells(d.Spec.Template.Spec.Containers)
		st := d.Status
		return []interface{}{d.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
			int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable), labels.FormatLabels(d.Spec.Template.Spec.NodeSelector),
			age(d.CreationTimestamp), names, images, metav1.FormatLabelSelector(d.Spec.Selector)}
	}
	k.Default = func(obj runtime.Object) {
		d := obj.(*appsv1.DaemonSet)
		if d.Spec.UpdateStrategy.Type == "" {
			d.Spec.UpdateStrategy.Type = appsv1.RollingUpdateDaemonSetStrategyType
		}
		if d.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			if d.Spec.UpdateStrategy.RollingUpdate == nil {
				d.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
			}
			if d.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable == nil {
				one := intstr.FromInt32(1)
				d.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &one
			}
			if d.Spec.UpdateStrategy.RollingUpdate.MaxSurge == nil {
				zero := intstr.FromInt32(0)
				d.Spec.UpdateStrategy.RollingUpdate.MaxSurge = &zero
			}
		}
		if d.Spec.RevisionHistoryLimit == nil {
			d.Spec.RevisionHistoryLimit = int32Ptr(10)
		}
		defaultPodSpec(&d.Spec.Template.Spec)
	}
	k.PrepareForCreate = func(obj runtime.Object) { obj.(*appsv1.DaemonSet).Status = appsv1.DaemonSetStatus{} }
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		d := obj.(*appsv1.DaemonSet)
		return validateWorkload(nil, d.Spec.Selector, &d.Spec.Template, "daemonset")
	}, func(obj, old runtime.Object) field.ErrorList {
		return validateSelectorUnchanged(obj.(*appsv1.DaemonSet).Spec.Selector, old.(*appsv1.DaemonSet).Spec.Selector)
	})
}

func controllerRevisionKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn, str("Controller", "Controller of the object"),
		str("Revision", appsv1.ControllerRevision{}.SwaggerDoc()["revision"]), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		cr := obj.(*appsv1.ControllerRevision)
		controller := "<none>"
		if ref := metav1.GetControllerOf(cr); ref != nil {
			controller = ownerName(ref)
		}
		return []interface{}{cr.Name, controller, cr.Revision, age(cr.CreationTimestamp)}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		return apivalidation.ValidateNonnegativeField(obj.(*appsv1.ControllerRevision).Revision, field.NewPath("revision"))
	}, func(obj, old runtime.Object) field.ErrorList {
		cr, o := obj.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision)
		if !apiequality.Semantic.DeepEqual(cr.Data, o.Data) {
			return field.ErrorList{field.Invalid(field.NewPath("data"), "", "field is immutable")}
		}
		return nil
	})
}

// ownerName prints an owner as "kind.group/name" (lower case), as
// upstream's formatResourceName does.
func ownerName(ref *metav1.OwnerReference) string {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || ref.Kind == "" {
		return ref.Name
	}
	gk := gv.WithKind(ref.Kind).GroupKind()
	return strings.ToLower(gk.String()) + "/" + ref.Name
}
