// Package metricsapi serves the resource metrics API, metrics.k8s.io/v1beta1
// (what `kubectl top` and the HPA controller read), inside the API server,
// the way metrics-server does as an aggregated API: usage comes from a
// Source (the Scraper), served read-only as get and list of nodes and pods
// with label and field selectors.
package metricsapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/berth-dev/berth/internal/metricsapi/v1beta1"
)

// Prefix is the path the Handler is mounted at (both with and without the
// trailing slash).
const Prefix = "/apis/" + v1beta1.GroupName

// Source is where a Handler gets usage from. The slices it returns are
// never changed afterwards, so the Handler may read them without locks.
type Source interface {
	Nodes() []v1beta1.NodeMetrics
	Pods() []v1beta1.PodMetrics
}

// Handler serves Prefix and everything under it.
type Handler struct {
	src Source
	log *slog.Logger
	now func() time.Time
}

// New returns the Handler for src. The caller authenticates requests.
func New(src Source, log *slog.Logger) *Handler {
	return &Handler{src: src, log: log, now: time.Now}
}

var (
	nodeResource = v1beta1.SchemeGroupVersion.WithResource("nodes").GroupResource()
	podResource  = v1beta1.SchemeGroupVersion.WithResource("pods").GroupResource()
	// NotFound names what metrics-server names: nodemetrics and podmetrics.
	nodeMetricsResource = v1beta1.SchemeGroupVersion.WithResource("nodemetrics").GroupResource()
	podMetricsResource  = v1beta1.SchemeGroupVersion.WithResource("podmetrics").GroupResource()
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		writeError(w, errNoPath())
		return
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	if r.Method != http.MethodGet {
		verb, ok := verbOf[r.Method]
		if !ok {
			verb = strings.ToLower(r.Method)
		}
		writeError(w, apierrors.NewMethodNotSupported(resourceOf(parts), verb))
		return
	}
	if len(parts) == 0 {
		writeJSON(w, LegacyGroup())
		return
	}
	if parts[0] != v1beta1.Version {
		writeError(w, errNoPath())
		return
	}
	parts = parts[1:]
	if len(parts) == 0 {
		writeJSON(w, ResourceList())
		return
	}
	if q := r.URL.Query().Get("watch"); q == "true" || q == "1" {
		writeError(w, apierrors.NewMethodNotSupported(resourceOf(parts), "watch"))
		return
	}
	sel, err := parseSelectors(r)
	if err != nil {
		writeError(w, err)
		return
	}
	switch {
	case len(parts) == 1 && parts[0] == "nodes":
		h.listNodes(w, r, sel)
	case len(parts) == 2 && parts[0] == "nodes":
		h.getNode(w, r, parts[1])
	case len(parts) == 1 && parts[0] == "pods":
		h.listPods(w, r, "", sel)
	case len(parts) == 3 && parts[0] == "namespaces" && parts[2] == "pods":
		h.listPods(w, r, parts[1], sel)
	case len(parts) == 4 && parts[0] == "namespaces" && parts[2] == "pods":
		h.getPod(w, r, parts[1], parts[3])
	default:
		writeError(w, errNoPath())
	}
}

// errNoPath is upstream's answer for a path no handler serves.
func errNoPath() *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound,
		Reason: metav1.StatusReasonNotFound, Message: "the server could not find the requested resource"}}
}

// verbOf names a request's verb as upstream's errors do.
var verbOf = map[string]string{http.MethodPost: "create", http.MethodPut: "update", http.MethodPatch: "patch", http.MethodDelete: "delete"}

// resourceOf names the resource a path (below the group) is about, for
// error messages.
func resourceOf(parts []string) schema.GroupResource {
	if len(parts) > 0 && parts[0] == v1beta1.Version {
		parts = parts[1:]
	}
	if len(parts) > 2 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	if len(parts) > 0 && parts[0] == "pods" {
		return podResource
	}
	return nodeResource
}

type selectors struct {
	label labels.Selector
	field fields.Selector
}

// parseSelectors reads labelSelector and fieldSelector; fields may name
// metadata.name and metadata.namespace, as metrics-server allows.
func parseSelectors(r *http.Request) (selectors, *apierrors.StatusError) {
	q := r.URL.Query()
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("invalid labelSelector %q: %v", q.Get("labelSelector"), err))
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("invalid fieldSelector %q: %v", q.Get("fieldSelector"), err))
	}
	for _, req := range fs.Requirements() {
		if req.Field != "metadata.name" && req.Field != "metadata.namespace" {
			return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return selectors{label: ls, field: fs}, nil
}

func (s selectors) match(m *metav1.ObjectMeta) bool {
	return s.label.Matches(labels.Set(m.Labels)) &&
		s.field.Matches(fields.Set{"metadata.name": m.Name, "metadata.namespace": m.Namespace})
}

func (h *Handler) listNodes(w http.ResponseWriter, r *http.Request, sel selectors) {
	list := &v1beta1.NodeMetricsList{Items: []v1beta1.NodeMetrics{}}
	list.Kind, list.APIVersion = "NodeMetricsList", v1beta1.SchemeGroupVersion.String()
	for _, m := range h.src.Nodes() {
		if sel.match(&m.ObjectMeta) {
			list.Items = append(list.Items, h.node(m))
		}
	}
	if v, ok := tableVersion(r.Header.Get("Accept")); ok {
		rows, objs := make([]tableRow, len(list.Items)), make([]any, len(list.Items))
		for i := range list.Items {
			rows[i], objs[i] = nodeRow(&list.Items[i]), &list.Items[i]
		}
		writeTable(w, r, v, rows, objs)
		return
	}
	writeJSON(w, list)
}

func (h *Handler) getNode(w http.ResponseWriter, r *http.Request, name string) {
	for _, m := range h.src.Nodes() {
		if m.Name == name {
			out := h.node(m)
			if v, ok := tableVersion(r.Header.Get("Accept")); ok {
				writeTable(w, r, v, []tableRow{nodeRow(&out)}, []any{&out})
				return
			}
			writeJSON(w, &out)
			return
		}
	}
	writeError(w, apierrors.NewNotFound(nodeMetricsResource, name))
}

func (h *Handler) listPods(w http.ResponseWriter, r *http.Request, namespace string, sel selectors) {
	list := &v1beta1.PodMetricsList{Items: []v1beta1.PodMetrics{}}
	list.Kind, list.APIVersion = "PodMetricsList", v1beta1.SchemeGroupVersion.String()
	for _, m := range h.src.Pods() {
		if (namespace == "" || m.Namespace == namespace) && sel.match(&m.ObjectMeta) {
			list.Items = append(list.Items, h.pod(m))
		}
	}
	if v, ok := tableVersion(r.Header.Get("Accept")); ok {
		rows, objs := make([]tableRow, len(list.Items)), make([]any, len(list.Items))
		for i := range list.Items {
			rows[i], objs[i] = podRow(&list.Items[i]), &list.Items[i]
		}
		writeTable(w, r, v, rows, objs)
		return
	}
	writeJSON(w, list)
}

func (h *Handler) getPod(w http.ResponseWriter, r *http.Request, namespace, name string) {
	for _, m := range h.src.Pods() {
		if m.Namespace == namespace && m.Name == name {
			out := h.pod(m)
			if v, ok := tableVersion(r.Header.Get("Accept")); ok {
				writeTable(w, r, v, []tableRow{podRow(&out)}, []any{&out})
				return
			}
			writeJSON(w, &out)
			return
		}
	}
	writeError(w, apierrors.NewNotFound(podMetricsResource, namespace+"/"+name))
}

// node and pod copy a Source item for the wire: metrics are computed, not
// stored, so like metrics-server they are "created" when served.
func (h *Handler) node(m v1beta1.NodeMetrics) v1beta1.NodeMetrics {
	m.Kind, m.APIVersion = "NodeMetrics", v1beta1.SchemeGroupVersion.String()
	m.CreationTimestamp = metav1.NewTime(h.now())
	return m
}

func (h *Handler) pod(m v1beta1.PodMetrics) v1beta1.PodMetrics {
	m.Kind, m.APIVersion = "PodMetrics", v1beta1.SchemeGroupVersion.String()
	m.CreationTimestamp = metav1.NewTime(h.now())
	return m
}

// writeJSON answers JSON whatever else the Accept header asks: kubectl top
// offers protobuf or JSON, and a client that takes only protobuf has no
// use for metrics.k8s.io types anyway (they have no protobuf encoding here).
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, apierrors.NewInternalError(fmt.Errorf("encode metrics: %w", err)))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b) // the client may be gone; nothing to do then
}

func writeError(w http.ResponseWriter, err apierrors.APIStatus) {
	st := err.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	b, _ := json.Marshal(&st) // a Status always encodes
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(b)
}
