package kinds

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Events are served as core/v1 and events.k8s.io/v1, both views of the same
// objects stored as core/v1 (upstream pkg/apis/events/v1/conversion.go).

var eventDoc = corev1.Event{}.SwaggerDoc()

var eventColumns = []metav1.TableColumnDefinition{
	str("Last Seen", eventDoc["lastTimestamp"]),
	str("Type", eventDoc["type"]),
	str("Reason", eventDoc["reason"]),
	str("Object", eventDoc["involvedObject"]),
	wide("Subobject", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
	wide("Source", eventDoc["source"]),
	str("Message", eventDoc["message"]),
	wide("First Seen", eventDoc["firstTimestamp"]),
	wide("Count", eventDoc["count"]),
	{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: metaDoc["name"]},
}

func eventKind(k *Kind) {
	k.Columns = eventColumns
	k.Row = func(obj runtime.Object) []interface{} { return eventRow(obj.(*corev1.Event)) }
	k.Fields = func(obj runtime.Object) fields.Set { return eventFields(obj.(*corev1.Event)) }
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		e := obj.(*corev1.Event)
		errs := validateEventType(e.Type, field.NewPath("type"), false)
		return append(errs, validateEventNamespace(e)...)
	}, nil)
}

// validateEventNamespace is upstream's legacy event rule: an event lives
// in its object's namespace; one about a cluster-scoped object lives in
// "default" (or kube-system, for events of the new style).
func validateEventNamespace(e *corev1.Event) field.ErrorList {
	ns := e.InvolvedObject.Namespace
	var ok bool
	switch {
	case ns != "":
		ok = e.Namespace == ns || !e.EventTime.IsZero()
	case e.EventTime.IsZero():
		ok = e.Namespace == "" || e.Namespace == metav1.NamespaceDefault
	default:
		ok = e.Namespace == metav1.NamespaceDefault || e.Namespace == metav1.NamespaceSystem
	}
	if ok {
		return nil
	}
	return field.ErrorList{field.Invalid(field.NewPath("involvedObject", "namespace"), ns, "does not match event.namespace")}
}

func eventsV1Kind(k *Kind) {
	k.Storage = corev1.SchemeGroupVersion.WithKind("Event")
	k.ToStorage = func(obj runtime.Object) (runtime.Object, error) { return eventV1ToCore(obj.(*eventsv1.Event)), nil }
	k.FromStorage = func(obj runtime.Object) (runtime.Object, error) { return eventCoreToV1(obj.(*corev1.Event)), nil }
	k.Columns = eventColumns
	k.Row = func(obj runtime.Object) []interface{} { return eventRow(eventV1ToCore(obj.(*eventsv1.Event))) }
	k.Fields = func(obj runtime.Object) fields.Set {
		e := obj.(*eventsv1.Event)
		set := eventFields(eventV1ToCore(e))
		set["regarding.kind"] = e.Regarding.Kind
		set["regarding.namespace"] = e.Regarding.Namespace
		set["regarding.name"] = e.Regarding.Name
		set["regarding.uid"] = string(e.Regarding.UID)
		set["regarding.apiVersion"] = e.Regarding.APIVersion
		set["regarding.resourceVersion"] = e.Regarding.ResourceVersion
		set["regarding.fieldPath"] = e.Regarding.FieldPath
		set["reportingController"] = e.ReportingController
		return set
	}
	// events.k8s.io/v1 writes carry the fields upstream made required for
	// the new API (ValidateEventCreate with the events/v1 request version).
	setValidation(k, dnsSubdomain, func(obj runtime.Object) field.ErrorList {
		e := obj.(*eventsv1.Event)
		var errs field.ErrorList
		if e.EventTime.IsZero() {
			errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
		}
		errs = append(errs, validateEventType(e.Type, field.NewPath("type"), true)...)
		if e.ReportingController == "" {
			errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
		}
		if e.ReportingInstance == "" {
			errs = append(errs, field.Required(field.NewPath("reportingInstance"), ""))
		}
		if e.Action == "" {
			errs = append(errs, field.Required(field.NewPath("action"), ""))
		}
		if e.Reason == "" {
			errs = append(errs, field.Required(field.NewPath("reason"), ""))
		}
		if len(e.Note) > 1024 {
			errs = append(errs, field.TooLong(field.NewPath("note"), "", 1024))
		}
		for _, err := range validateEventNamespace(eventV1ToCore(e)) {
			err.Field = "regarding.namespace"
			errs = append(errs, err)
		}
		return errs
	}, nil)
}

func validateEventType(t string, p *field.Path, required bool) field.ErrorList {
	if t == corev1.EventTypeNormal || t == corev1.EventTypeWarning || (t == "" && !required) {
		return nil
	}
	return field.ErrorList{field.NotSupported(p, t, []string{corev1.EventTypeNormal, corev1.EventTypeWarning})}
}

// eventFields are upstream's event field selectors (kubectl describe uses
// involvedObject.*).
func eventFields(e *corev1.Event) fields.Set {
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	return fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         source,
		"type":                           e.Type,
	}
}

// eventRow is upstream's printEvent with wide cells.
func eventRow(e *corev1.Event) []interface{} {
	first := age(e.FirstTimestamp)
	if e.FirstTimestamp.IsZero() {
		first = microAge(e.EventTime)
	}
	last := age(e.LastTimestamp)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = microAge(e.Series.LastObservedTime)
		count = e.Series.Count
	} else if count == 0 {
		count = 1 // singleton events of the new API carry no count
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target = fmt.Sprintf("%s/%s", target, e.InvolvedObject.Name)
	}
	component, instance := e.Source.Component, e.Source.Host
	if component == "" {
		component = e.ReportingController
	}
	if instance == "" {
		instance = e.ReportingInstance
	}
	source := component
	if instance != "" {
		source += ", " + instance
	}
	return []interface{}{last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath, source,
		strings.TrimSpace(e.Message), first, int64(count), e.Name}
}

func microAge(t metav1.MicroTime) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return age(metav1.NewTime(t.Time))
}

func eventV1ToCore(in *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		Related:             in.Related,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	out.Source = in.DeprecatedSource
	if in.Series != nil {
		out.Series = &corev1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	return out
}

func eventCoreToV1(in *corev1.Event) *eventsv1.Event {
	out := &eventsv1.Event{
		TypeMeta:                 metav1.TypeMeta{APIVersion: eventsv1.SchemeGroupVersion.String(), Kind: "Event"},
		ObjectMeta:               in.ObjectMeta,
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Related:                  in.Related,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	out.DeprecatedSource = in.Source
	if in.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: in.Series.Count, LastObservedTime: in.Series.LastObservedTime}
	}
	return out
}
