package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/berth-dev/berth/internal/apiserver/kinds"
	"github.com/berth-dev/berth/internal/storage"
)

// predicate is a request's label and field selectors.
type predicate struct {
	k     *kinds.Kind
	label labels.Selector
	field fields.Selector
}

func parsePredicate(rq *request) (*predicate, error) {
	p := &predicate{k: rq.kind, label: labels.Everything(), field: fields.Everything()}
	var err error
	if v := rq.q.Get("labelSelector"); v != "" {
		if p.label, err = labels.Parse(v); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
	}
	if v := rq.q.Get("fieldSelector"); v != "" {
		if p.field, err = fields.ParseSelector(v); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
		known := fieldSet(rq.kind, rq.kind.New())
		for _, req := range p.field.Requirements() {
			if _, ok := known[req.Field]; !ok {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
	}
	if rq.verb == "watch" && rq.name != "" {
		p.field = fields.AndSelectors(p.field, fields.OneTermEqualSelector("metadata.name", rq.name))
	}
	if p.label.Empty() && p.field.Empty() {
		return nil, nil
	}
	return p, nil
}

func fieldSet(k *kinds.Kind, obj runtime.Object) fields.Set {
	m := metaOf(obj)
	set := fields.Set{"metadata.name": m.GetName()}
	if k.Namespaced {
		set["metadata.namespace"] = m.GetNamespace()
	}
	if k.Fields != nil {
		for f, v := range k.Fields(obj) {
			set[f] = v
		}
	}
	return set
}

// matches reports whether a served object passes the selectors.
func (p *predicate) matches(obj runtime.Object) bool {
	if p == nil {
		return true
	}
	if !p.label.Empty() && !p.label.Matches(labels.Set(metaOf(obj).GetLabels())) {
		return false
	}
	return p.field.Empty() || p.field.Matches(fieldSet(p.k, obj))
}

// storedFilter applies p to stored objects (converting them first when k
// is served in another version than it is stored in).
func (s *Server) storedFilter(k *kinds.Kind, p *predicate) func(runtime.Object) bool {
	if p == nil {
		return nil
	}
	return func(obj runtime.Object) bool {
		served, err := toServed(k, obj.DeepCopyObject())
		return err == nil && p.matches(served)
	}
}

func (s *Server) list(rq *request) error {
	pred, err := parsePredicate(rq)
	if err != nil {
		return err
	}
	opts := storage.ListOptions{Continue: rq.q.Get("continue"), Filter: s.storedFilter(rq.kind, pred)}
	if v := rq.q.Get("limit"); v != "" {
		if opts.Limit, err = strconv.ParseInt(v, 10, 64); err != nil || opts.Limit < 0 {
			return apierrors.NewBadRequest("limit must be a non-negative integer")
		}
	}
	if rq.q.Get("resourceVersionMatch") == string(metav1.ResourceVersionMatchExact) && opts.Continue == "" {
		if opts.Revision, err = strconv.ParseInt(rq.q.Get("resourceVersion"), 10, 64); err != nil || opts.Revision <= 0 {
			return apierrors.NewBadRequest("resourceVersionMatch=Exact needs a resourceVersion")
		}
	}
	res, err := s.cfg.Store.List(rq.r.Context(), s.key(rq.kind, rq.namespace, ""), opts)
	if err != nil {
		return err
	}
	items := make([]runtime.Object, len(res.Items))
	for i, obj := range res.Items {
		if items[i], err = toServed(rq.kind, obj); err != nil {
			return err
		}
	}
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(res.Revision, 10), Continue: res.Continue, RemainingItemCount: res.Remaining}
	switch t, v := acceptTarget(rq.r.Header.Get("Accept")); t {
	case targetTable:
		tbl, err := s.table(rq, items, v)
		if err != nil {
			return err
		}
		tbl.ListMeta = lm
		writeObject(rq.w, http.StatusOK, tbl)
	case targetPartialMetadata:
		l := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/" + v}, ListMeta: lm}
		for _, obj := range items {
			pm := partialMetadata(obj, v)
			pm.TypeMeta = metav1.TypeMeta{}
			l.Items = append(l.Items, *pm)
		}
		writeObject(rq.w, http.StatusOK, l)
	default:
		return writeList(rq.w, rq.kind.GVK, lm, items)
	}
	return nil
}

// writeList encodes a list without building the typed List object (no
// reflection over Items): the same JSON upstream sends.
func writeList(w http.ResponseWriter, gvk schema.GroupVersionKind, lm metav1.ListMeta, items []runtime.Object) error {
	var buf bytes.Buffer
	buf.Grow(256 + 1024*len(items))
	lmJSON, err := encodeJSON(&lm)
	if err != nil {
		return err
	}
	fmt.Fprintf(&buf, `{"kind":%q,"apiVersion":%q,"metadata":%s,"items":[`, gvk.Kind+"List", gvk.GroupVersion().String(), lmJSON)
	for i, obj := range items {
		obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		data, err := encodeJSON(obj)
		if err != nil {
			return err
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(data)
	}
	buf.WriteString("]}")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}

// initialEventsEnd marks the bookmark that ends a watch-list's initial events.
const initialEventsEnd = "k8s.io/initial-events-end"

// watch streams changes as newline-delimited WatchEvents. Without a
// resourceVersion (or "0"), and with sendInitialEvents, it first sends the
// current objects as ADDED, as upstream does.
func (s *Server) watch(rq *request) error {
	k := rq.kind
	pred, err := parsePredicate(rq)
	if err != nil {
		return err
	}
	rvParam := rq.q.Get("resourceVersion")
	sendInitial := rq.q.Get("sendInitialEvents") == "true"
	bookmarks := rq.q.Get("allowWatchBookmarks") == "true"
	if rq.q.Has("sendInitialEvents") && (rq.q.Get("resourceVersionMatch") != string(metav1.ResourceVersionMatchNotOlderThan) || !bookmarks) && sendInitial {
		return apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "ListOptions"}, "", nil)
	}
	timeout := time.Duration(1800+rand.IntN(1800)) * time.Second
	if v := rq.q.Get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return apierrors.NewBadRequest("timeoutSeconds must be a non-negative integer")
		}
		if n > 0 { // 0 means the server's default, as upstream
			timeout = time.Duration(n) * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(rq.r.Context(), timeout)
	defer cancel()
	var rev int64
	var initial []runtime.Object
	if sendInitial || rvParam == "" || rvParam == "0" {
		res, err := s.cfg.Store.List(ctx, s.key(k, rq.namespace, ""), storage.ListOptions{Filter: s.storedFilter(k, pred)})
		if err != nil {
			return err
		}
		rev, initial = res.Revision, res.Items
	} else if rev, err = strconv.ParseInt(rvParam, 10, 64); err != nil || rev < 0 {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rvParam))
	}
	events := s.cfg.Store.Watch(ctx, s.key(k, rq.namespace, ""), rev)

	enc, err := s.watchEncoder(rq)
	if err != nil {
		return err
	}
	rq.w.Header().Set("Content-Type", "application/json")
	rq.w.Header().Set("Cache-Control", "no-cache, private")
	rq.w.WriteHeader(http.StatusOK)
	flusher, _ := rq.w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	for _, obj := range initial {
		served, err := toServed(k, obj)
		if err != nil {
			return nil
		}
		if !enc.event(watch.Added, served) {
			return nil
		}
	}
	if sendInitial {
		if !enc.bookmark(rev, true) {
			return nil
		}
	}
	flush()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.stopping:
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if ev.Err != nil {
				enc.errorEvent(s.apiError(k, "", ev.Err))
				flush()
				return nil
			}
			if ev.Type == watch.Bookmark {
				if bookmarks && !enc.bookmark(ev.Revision, false) {
					return nil
				}
				flush()
				continue
			}
			if enc.target == targetObject && k.FromStorage == nil && ev.Object.GetObjectKind().GroupVersionKind() == k.GVK {
				// Stored as served: select on the shared objects (read-only)
				// and encode each event once for all its watchers.
				typ, ok := selectEvent(pred, ev.Type, ev.Object, ev.Prev)
				if !ok {
					continue
				}
				data, err := ev.Memo(k.GVK.String(), func() ([]byte, error) { return encodeJSON(ev.Object) })
				if err != nil || !enc.writeRaw(typ, data) {
					return nil
				}
			} else {
				// Events are shared with other watchers: work on a copy.
				ev.Object = ev.Object.DeepCopyObject()
				typ, obj, ok := filterEvent(k, pred, ev)
				if !ok {
					continue
				}
				if !enc.event(typ, obj) {
					return nil
				}
			}
			if len(events) == 0 {
				flush()
			}
		}
	}
}

// filterEvent converts a storage event to k's version and applies the
// selectors the way upstream's watch cache does: an object that starts
// matching is ADDED, one that stops matching is DELETED.
func filterEvent(k *kinds.Kind, p *predicate, ev storage.Event) (watch.EventType, runtime.Object, bool) {
	obj, err := toServed(k, ev.Object)
	if err != nil {
		return "", nil, false
	}
	var prev runtime.Object
	if ev.Prev != nil && p != nil {
		if prev, err = toServed(k, ev.Prev.DeepCopyObject()); err != nil {
			prev = nil
		}
	}
	typ, ok := selectEvent(p, ev.Type, obj, prev)
	return typ, obj, ok
}

// selectEvent decides the type of an event for a watcher with selectors p,
// from the served object and its previous state (nil if none).
func selectEvent(p *predicate, typ watch.EventType, obj, prev runtime.Object) (watch.EventType, bool) {
	if p == nil {
		return typ, true
	}
	curMatch := p.matches(obj)
	prevMatch := prev != nil && p.matches(prev)
	switch typ {
	case watch.Added:
		return watch.Added, curMatch
	case watch.Deleted:
		return watch.Deleted, prevMatch || curMatch
	}
	switch {
	case curMatch && prevMatch:
		return watch.Modified, true
	case curMatch:
		return watch.Added, true
	case prevMatch:
		return watch.Deleted, true
	}
	return "", false
}

// watchEncoder writes watch events in the shape the client accepts.
type watchEncoder struct {
	s      *Server
	rq     *request
	target target
	ver    string
	w      http.ResponseWriter
	buf    bytes.Buffer
	first  bool
}

func (s *Server) watchEncoder(rq *request) (*watchEncoder, error) {
	t, v := acceptTarget(rq.r.Header.Get("Accept"))
	return &watchEncoder{s: s, rq: rq, target: t, ver: v, w: rq.w, first: true}, nil
}

func (e *watchEncoder) write(typ watch.EventType, obj any) bool {
	data, err := encodeJSON(obj)
	if err != nil {
		return false
	}
	return e.writeRaw(typ, data)
}

// writeRaw writes one event whose object is already JSON.
func (e *watchEncoder) writeRaw(typ watch.EventType, data []byte) bool {
	e.buf.Reset()
	e.buf.WriteString(`{"type":"`)
	e.buf.WriteString(string(typ))
	e.buf.WriteString(`","object":`)
	e.buf.Write(data)
	e.buf.WriteString("}\n")
	_, err := e.w.Write(e.buf.Bytes())
	return err == nil
}

func (e *watchEncoder) event(typ watch.EventType, obj runtime.Object) bool {
	switch e.target {
	case targetTable:
		tbl, err := e.s.table(e.rq, []runtime.Object{obj}, e.ver)
		if err != nil {
			return false
		}
		// Upstream sends the column definitions with the first event only.
		if !e.first {
			tbl.ColumnDefinitions = nil
		}
		e.first = false
		tbl.ResourceVersion = metaOf(obj).GetResourceVersion()
		return e.write(typ, tbl)
	case targetPartialMetadata:
		return e.write(typ, partialMetadata(obj, e.ver))
	}
	return e.write(typ, obj)
}

func (e *watchEncoder) bookmark(rev int64, initialEnd bool) bool {
	obj := e.rq.kind.New()
	obj.GetObjectKind().SetGroupVersionKind(e.rq.kind.GVK)
	m := metaOf(obj)
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	if initialEnd {
		m.SetAnnotations(map[string]string{initialEventsEnd: "true"})
	}
	if e.target == targetPartialMetadata {
		return e.write(watch.Bookmark, partialMetadata(obj, e.ver))
	}
	if e.target == targetTable {
		tbl := &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/" + e.ver}}
		tbl.ResourceVersion = m.GetResourceVersion()
		return e.write(watch.Bookmark, tbl)
	}
	return e.write(watch.Bookmark, obj)
}

func (e *watchEncoder) errorEvent(err error) {
	var st metav1.Status
	if ae, ok := err.(apierrors.APIStatus); ok {
		st = ae.Status()
	} else {
		st = apierrors.NewInternalError(err).ErrStatus
	}
	st.Kind, st.APIVersion = "Status", "v1"
	e.write(watch.Error, &st)
}
