package metricsapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth-dev/berth/internal/metricsapi/v1beta1"
)

// `kubectl get nodes.metrics.k8s.io` asks for a meta.k8s.io Table, which
// metrics-server answers with usage columns.

var tableColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "CPU", Type: "string", Description: "CPU usage in millicores"},
	{Name: "Memory", Type: "string", Description: "Memory usage (working set) in mebibytes"},
	{Name: "Window", Type: "string", Description: "Time window the usage was measured over"},
}

// tableVersion is the meta.k8s.io version of the first Table the Accept
// header names before any plain type, if any.
func tableVersion(accept string) (string, bool) {
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		params := map[string]string{}
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			params[k] = v
		}
		switch {
		case params["as"] == "Table" && params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1"):
			return params["v"], true
		case params["as"] == "":
			return "", false
		}
	}
	return "", false
}

// tableRow is one item's cells and the object a row may carry.
type tableRow struct {
	meta  metav1.ObjectMeta
	usage corev1.ResourceList
	win   metav1.Duration
	obj   runtime.Object
}

func nodeRow(m *v1beta1.NodeMetrics) tableRow { return tableRow{m.ObjectMeta, m.Usage, m.Window, nil} }

func podRow(m *v1beta1.PodMetrics) tableRow {
	total := corev1.ResourceList{}
	for _, c := range m.Containers {
		for name, q := range c.Usage {
			sum := total[name]
			sum.Add(q)
			total[name] = sum
		}
	}
	return tableRow{m.ObjectMeta, total, m.Window, nil}
}

// writeTable answers rows as a Table; includeObject picks what each row
// carries (Metadata by default, as upstream).
func writeTable(w http.ResponseWriter, r *http.Request, version string, rows []tableRow, objs []any) {
	include := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject"))
	switch include {
	case "":
		include = metav1.IncludeMetadata
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
	default:
		writeError(w, apierrors.NewBadRequest("includeObject must be one of None, Metadata, Object"))
		return
	}
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/" + version},
		ColumnDefinitions: tableColumns,
		Rows:              make([]metav1.TableRow, 0, len(rows)),
	}
	for i, row := range rows {
		cpu, mem := row.usage[corev1.ResourceCPU], row.usage[corev1.ResourceMemory]
		tr := metav1.TableRow{Cells: []any{row.meta.Name, fmt.Sprintf("%dm", cpu.MilliValue()), fmt.Sprintf("%dMi", mem.Value()>>20), row.win.Duration.String()}}
		var embed any
		switch include {
		case metav1.IncludeMetadata:
			embed = &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}, ObjectMeta: row.meta}
		case metav1.IncludeObject:
			embed = objs[i]
		}
		if embed != nil {
			raw, err := json.Marshal(embed)
			if err != nil {
				writeError(w, apierrors.NewInternalError(fmt.Errorf("encode table row: %w", err)))
				return
			}
			tr.Object = runtime.RawExtension{Raw: raw}
		}
		t.Rows = append(t.Rows, tr)
	}
	writeJSON(w, t)
}
