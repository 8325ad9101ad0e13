package kinds

import (
	"fmt"
	"strings"
	"time"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// now is the clock Table cells are computed against; tests replace it.
var now = time.Now

// metaOf returns obj's metadata. Every served type embeds ObjectMeta.
func metaOf(obj runtime.Object) metav1.Object {
	return obj.(metav1.ObjectMetaAccessor).GetObjectMeta()
}

// age formats how long ago t was as kubectl prints it (upstream printers'
// translateTimestampSince).
func age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now().Sub(t.Time))
}

// ageOf is age for a pointer that may be nil.
func ageOf(t *metav1.Time) string {
	if t == nil {
		return "<unknown>"
	}
	return age(*t)
}

var metaDoc = metav1.ObjectMeta{}.SwaggerDoc()

// nameColumn and ageColumn open and close most tables, as upstream's do.
var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metaDoc["name"]}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metaDoc["creationTimestamp"]}
)

// str, num and wide build column definitions: a string column, an integer
// column, and a string column shown only with -o wide (priority 1).
func str(name, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "string", Description: desc}
}

func num(name, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "integer", Description: desc}
}

func wide(name, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "string", Description: desc, Priority: 1}
}

// validateMeta validates metadata on create, with nameFn for the name.
func validateMeta(k *Kind, obj runtime.Object, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	return apivalidation.ValidateObjectMetaAccessor(metaOf(obj), k.Namespaced, nameFn, field.NewPath("metadata"))
}

// setValidation installs Validate and ValidateUpdate on k: metadata checks
// with nameFn, then spec (may be nil) on the new object, then update (may be
// nil) for what may not change.
func setValidation(k *Kind, nameFn apivalidation.ValidateNameFunc, spec func(obj runtime.Object) field.ErrorList, update func(obj, old runtime.Object) field.ErrorList) {
	k.Validate = func(obj runtime.Object) field.ErrorList {
		errs := validateMeta(k, obj, nameFn)
		if spec != nil {
			errs = append(errs, spec(obj)...)
		}
		return errs
	}
	k.ValidateUpdate = func(obj, old runtime.Object) field.ErrorList {
		errs := apivalidation.ValidateObjectMetaAccessorUpdate(metaOf(obj), metaOf(old), field.NewPath("metadata"))
		if spec != nil {
			errs = append(errs, spec(obj)...)
		}
		if update != nil {
			errs = append(errs, update(obj, old)...)
		}
		return errs
	}
}

// The name rules upstream applies per kind.
var (
	dnsSubdomain = apivalidation.NameIsDNSSubdomain
	dnsLabel     = apivalidation.NameIsDNSLabel
	dns1035Label = apivalidation.NameIsDNS1035Label
)

// pathSegmentName is the rule for kinds whose names only need to be usable
// in a URL path (RBAC objects, events).
func pathSegmentName(name string, prefix bool) []string {
	if prefix {
		return nil
	}
	switch {
	case name == "." || name == "..":
		return []string{fmt.Sprintf("may not be '%s'", name)}
	case strings.Contains(name, "/"):
		return []string{"may not contain '/'"}
	case strings.Contains(name, "%"):
		return []string{"may not contain '%'"}
	}
	return nil
}

// defaultTable installs upstream's default table (k8s.io/apiserver
// rest.DefaultTableConvertor: NAME and CREATED AT in RFC 3339), used for
// kinds that have no printer upstream (roles, limitranges, ...).
func defaultTable(k *Kind) {
	k.Columns = []metav1.TableColumnDefinition{nameColumn,
		{Name: "Created At", Type: "date", Description: metaDoc["creationTimestamp"]}}
	k.Row = func(obj runtime.Object) []interface{} {
		m := metaOf(obj)
		return []interface{}{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}
	}
}

// orNone returns s, or "<none>" when it is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
