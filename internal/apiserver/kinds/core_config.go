package kinds

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ConfigMaps, Secrets and ServiceAccounts: keyed data, as upstream's
// pkg/apis/core/validation ValidateConfigMap / ValidateSecret.

// maxDataBytes is upstream's core.MaxSecretSize, shared by ConfigMaps.
const maxDataBytes = 1 * 1024 * 1024

func configMapKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn, str("Data", corev1.ConfigMap{}.SwaggerDoc()["data"]), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		cm := obj.(*corev1.ConfigMap)
		return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp)}
	}
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		cm := obj.(*corev1.ConfigMap)
		var errs field.ErrorList
		size := 0
		for key, v := range cm.Data {
			errs = append(errs, validateDataKey(field.NewPath("data").Key(key), key)...)
			size += len(v)
		}
		for key, v := range cm.BinaryData {
			p := field.NewPath("binaryData").Key(key)
			errs = append(errs, validateDataKey(p, key)...)
			if _, dup := cm.Data[key]; dup {
				errs = append(errs, field.Invalid(p, key, "duplicate of key present in data"))
			}
			size += len(v)
		}
		if size > maxDataBytes {
			errs = append(errs, field.TooLong(field.NewPath(""), "", maxDataBytes))
		}
		return errs
	}, func(obj, old runtime.Object) field.ErrorList {
		cm, oldCM := obj.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
		return validateImmutableData(oldCM.Immutable, cm.Immutable,
			!reflect.DeepEqual(cm.Data, oldCM.Data) || !reflect.DeepEqual(cm.BinaryData, oldCM.BinaryData))
	})
}

// validateDataKey checks a ConfigMap or Secret key.
func validateDataKey(p *field.Path, key string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(p, key, msg))
	}
	return errs
}

// validateImmutableData refuses changing data, or clearing immutable, once
// an object was marked immutable.
func validateImmutableData(oldImmutable, newImmutable *bool, dataChanged bool) field.ErrorList {
	if oldImmutable == nil || !*oldImmutable {
		return nil
	}
	var errs field.ErrorList
	if newImmutable == nil || !*newImmutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
	}
	if dataChanged {
		errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
	}
	return errs
}

func secretKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Type", corev1.Secret{}.SwaggerDoc()["type"]), str("Data", corev1.Secret{}.SwaggerDoc()["data"]), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		s := obj.(*corev1.Secret)
		return []interface{}{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp)}
	}
	// stringData is write-only: it is folded into data on every write (Default
	// runs on create and update), as upstream's secret strategy does.
	k.Default = func(obj runtime.Object) {
		s := obj.(*corev1.Secret)
		if s.Type == "" {
			s.Type = corev1.SecretTypeOpaque
		}
		foldStringData(s)
	}
	k.Fields = func(obj runtime.Object) fields.Set {
		return fields.Set{"type": string(obj.(*corev1.Secret).Type)}
	}
	setValidation(k, dnsSubdomain, validateSecret, func(obj, old runtime.Object) field.ErrorList {
		s, o := obj.(*corev1.Secret), old.(*corev1.Secret)
		var errs field.ErrorList
		if s.Type != o.Type {
			errs = append(errs, field.Invalid(field.NewPath("type"), s.Type, "field is immutable"))
		}
		return append(errs, validateImmutableData(o.Immutable, s.Immutable, !reflect.DeepEqual(s.Data, o.Data))...)
	})
}

// foldStringData moves stringData into data, stringData winning, as the
// write-only field is documented to behave.
func foldStringData(s *corev1.Secret) {
	if len(s.StringData) == 0 {
		return
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for key, v := range s.StringData {
		s.Data[key] = []byte(v)
	}
	s.StringData = nil
}

func validateSecret(obj runtime.Object) field.ErrorList {
	s := obj.(*corev1.Secret)
	var errs field.ErrorList
	data := field.NewPath("data")
	size := 0
	for key, v := range s.Data {
		errs = append(errs, validateDataKey(data.Key(key), key)...)
		size += len(v)
	}
	if size > maxDataBytes {
		errs = append(errs, field.TooLong(data, "", maxDataBytes))
	}
	required := map[corev1.SecretType][]string{
		corev1.SecretTypeDockerConfigJson: {corev1.DockerConfigJsonKey},
		corev1.SecretTypeDockercfg:        {corev1.DockerConfigKey},
		corev1.SecretTypeTLS:              {corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
		corev1.SecretTypeBasicAuth:        nil,
	}
	for _, key := range required[s.Type] {
		if _, ok := s.Data[key]; !ok {
			errs = append(errs, field.Required(data.Key(key), ""))
		}
	}
	if s.Type == corev1.SecretTypeServiceAccountToken {
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	}
	return errs
}

func serviceAccountKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Secrets", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]), ageColumn}
	k.Row = func(obj runtime.Object) []interface{} {
		sa := obj.(*corev1.ServiceAccount)
		return []interface{}{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp)}
	}
	setValidation(k, dnsSubdomain, nil, nil)
}

func podTemplateKind(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		str("Containers", "Names of each container in the template."),
		str("Images", "Images referenced by each container in the template."),
		str("Pod Labels", "The labels for the pod template.")}
	k.Row = func(obj runtime.Object) []interface{} {
		pt := obj.(*corev1.PodTemplate)
		names, images := containerCells(pt.Template.Spec.Containers)
		return []interface{}{pt.Name, names, images, labels.FormatLabels(pt.Template.Labels)}
	}
	k.Default = func(obj runtime.Object) { defaultPodSpec(&obj.(*corev1.PodTemplate).Template.Spec) }
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		pt := obj.(*corev1.PodTemplate)
		return validatePodTemplateSpec(&pt.Template, field.NewPath("template"))
	}, nil)
}
