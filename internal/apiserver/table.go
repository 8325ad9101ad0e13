package apiserver

import (
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// defaultColumns is the table of a kind without printers of its own.
var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func defaultRow(obj runtime.Object) []interface{} {
	m := metaOf(obj)
	age := "<unknown>"
	if ts := m.GetCreationTimestamp(); !ts.IsZero() {
		age = duration.HumanDuration(time.Since(ts.Time))
	}
	return []interface{}{m.GetName(), age}
}

// table renders objs as a meta.k8s.io Table with the kind's columns. The
// includeObject parameter picks what each row carries: None, Metadata
// (the default, PartialObjectMetadata) or Object.
func (s *Server) table(rq *request, objs []runtime.Object, version string) (*metav1.Table, error) {
	k := rq.kind
	include := metav1.IncludeObjectPolicy(rq.q.Get("includeObject"))
	switch include {
	case "":
		include = metav1.IncludeMetadata
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
	default:
		return nil, apierrors.NewBadRequest("includeObject must be one of None, Metadata, Object")
	}
	cols, row := k.Columns, k.Row
	if cols == nil || row == nil {
		cols, row = defaultColumns, defaultRow
	}
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/" + version},
		ColumnDefinitions: cols,
		Rows:              make([]metav1.TableRow, 0, len(objs)),
	}
	for _, obj := range objs {
		r := metav1.TableRow{Cells: row(obj)}
		var embed any
		switch include {
		case metav1.IncludeMetadata:
			embed = partialMetadata(obj, "v1")
		case metav1.IncludeObject:
			obj.GetObjectKind().SetGroupVersionKind(k.GVK)
			embed = obj
		}
		if embed != nil {
			// RawExtension marshals only Raw, so encode the object here.
			raw, err := encodeJSON(embed)
			if err != nil {
				return nil, err
			}
			r.Object = runtime.RawExtension{Raw: raw}
		}
		t.Rows = append(t.Rows, r)
	}
	return t, nil
}

// partialMetadata is obj's metadata alone, for metadata-only clients (the
// garbage collector's metadata informers) and Table rows.
func partialMetadata(obj runtime.Object, version string) *metav1.PartialObjectMetadata {
	if version == "" {
		version = "v1"
	}
	pm := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/" + version}}
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if om, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			pm.ObjectMeta = *om
		}
	}
	return pm
}
