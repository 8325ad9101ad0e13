package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berth-dev/berth/internal/admission"
	"github.com/berth-dev/berth/internal/apiserver/kinds"
	"github.com/berth-dev/berth/internal/storage"
)

// streamingSubresources go to the node proxy.
var streamingSubresources = map[string]bool{"log": true, "exec": true, "attach": true, "portforward": true, "proxy": true}

// serveResource handles every /api/v1/... and /apis/G/V/... resource path.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion, rest string) {
	ns, resource, name, sub, ok := parseResourcePath(rest)
	if !ok {
		writeError(w, errNoResource())
		return
	}
	k := s.byGVR[gv.WithResource(resource)]
	if k == nil || (!k.Namespaced && ns != "") || (k.Namespaced && ns == "" && name != "") ||
		(sub != "" && !k.HasSubresource(sub)) || (sub != "" && name == "") {
		writeError(w, errNoResource())
		return
	}
	rq := &request{w: w, r: r, q: r.URL.Query(), user: userFrom(r.Context()), kind: k, namespace: ns, name: name, sub: sub}
	rq.verb = verbFor(r.Method, name, isWatch(rq.q))
	if rq.verb == "" {
		writeError(w, apierrors.NewMethodNotSupported(k.GroupVersionResource().GroupResource(), r.Method))
		return
	}
	if err := authorize(rq, s.cfg.RBAC); err != nil {
		writeError(w, err)
		return
	}
	if streamingSubresources[sub] {
		r.SetPathValue("namespace", ns)
		r.SetPathValue("name", name)
		r.SetPathValue("subresource", sub)
		s.cfg.NodeProxy.ServeHTTP(w, r)
		return
	}
	var err error
	switch {
	case sub == "scale":
		err = s.serveScale(rq)
	case sub == "binding":
		err = s.serveBinding(rq)
	case sub == "eviction":
		err = s.serveEviction(rq)
	case sub == "token":
		err = s.serveToken(rq)
	default:
		err = s.serveGeneric(rq)
	}
	if err != nil {
		writeError(w, s.apiError(k, name, err))
	}
}

func (s *Server) serveGeneric(rq *request) error {
	switch rq.verb {
	case "get":
		return s.get(rq)
	case "list":
		return s.list(rq)
	case "watch":
		return s.watch(rq)
	case "create":
		if rq.name != "" {
			return apierrors.NewMethodNotSupported(gr(rq.kind), "POST")
		}
		return s.create(rq)
	case "update", "patch":
		if rq.name == "" {
			return apierrors.NewMethodNotSupported(gr(rq.kind), rq.r.Method)
		}
		if rq.verb == "update" {
			return s.update(rq)
		}
		return s.patch(rq)
	case "delete":
		if rq.sub != "" {
			return apierrors.NewMethodNotSupported(gr(rq.kind), "DELETE")
		}
		return s.delete(rq)
	case "deletecollection":
		return s.deleteCollection(rq)
	}
	return apierrors.NewMethodNotSupported(gr(rq.kind), rq.r.Method)
}

func gr(k *kinds.Kind) schema.GroupResource { return k.GroupVersionResource().GroupResource() }

func (s *Server) apiError(k *kinds.Kind, name string, err error) error {
	return apiErrorFor(k, name, err)
}

// apiErrorFor turns storage errors into Status errors naming the resource.
func apiErrorFor(k *kinds.Kind, name string, err error) error {
	var ee *storage.ExpiredError
	var ce *storage.InvalidContinueError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(gr(k), name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(gr(k), name)
	case errors.Is(err, storage.ErrConflict):
		return conflict(k, name)
	case errors.As(err, &ee):
		return apierrors.NewResourceExpired(ee.Error())
	case errors.As(err, &ce):
		return apierrors.NewBadRequest(ce.Error())
	}
	return err
}

func conflict(k *kinds.Kind, name string) error {
	return apierrors.NewConflict(gr(k), name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

func (s *Server) key(k *kinds.Kind, ns, name string) string {
	return storage.Key(k.Storage.Group, k.StorageResource, ns, name)
}

// getServed reads one object in k's version.
func (s *Server) getServed(ctx context.Context, k *kinds.Kind, ns, name string) (runtime.Object, error) {
	obj, err := s.cfg.Store.Get(ctx, s.key(k, ns, name))
	if err != nil {
		return nil, err
	}
	return toServed(k, obj)
}

func (s *Server) get(rq *request) error {
	obj, err := s.getServed(rq.r.Context(), rq.kind, rq.namespace, rq.name)
	if err != nil {
		return err
	}
	return s.respond(rq, http.StatusOK, obj)
}

// respond writes obj in the shape the client accepts (object, Table row,
// PartialObjectMetadata).
func (s *Server) respond(rq *request, code int, obj runtime.Object) error {
	switch t, v := acceptTarget(rq.r.Header.Get("Accept")); t {
	case targetTable:
		tbl, err := s.table(rq, []runtime.Object{obj}, v)
		if err != nil {
			return err
		}
		writeObject(rq.w, code, tbl)
	case targetPartialMetadata:
		writeObject(rq.w, code, partialMetadata(obj, v))
	default:
		writeObject(rq.w, code, obj)
	}
	return nil
}

func isDryRun(rq *request) (bool, error) {
	dr := rq.q["dryRun"]
	for _, v := range dr {
		if v != "All" {
			return false, apierrors.NewBadRequest(fmt.Sprintf("unsupported dryRun value %q, only All is supported", v))
		}
	}
	return len(dr) > 0, nil
}

// admit runs admission for rq and passes the warnings it adds (PodSecurity's
// warn mode) on to the client as Warning headers, which kubectl prints.
func (s *Server) admit(ctx context.Context, rq *request, a *admission.Attributes) error {
	if s.cfg.Admission == nil {
		return nil
	}
	err := s.cfg.Admission.Admit(ctx, a)
	for _, msg := range a.Warnings {
		addWarning(rq.w, msg)
	}
	return err
}

func (s *Server) release(ctx context.Context, a *admission.Attributes) {
	if s.cfg.Admission != nil && a != nil {
		s.cfg.Admission.Release(ctx, a)
	}
}

func (s *Server) attrs(rq *request, op admission.Operation, name string, obj, old runtime.Object, dryRun bool) *admission.Attributes {
	a := &admission.Attributes{Operation: op, Kind: rq.kind, Subresource: rq.sub, Namespace: rq.namespace,
		Name: name, Object: obj, OldObject: old, DryRun: dryRun}
	if rq.user != nil {
		a.User, a.Groups = rq.user.Name, rq.user.Groups
	}
	return a
}

// writeRequest reads what every write (create, update, patch) starts
// from: the dryRun and fieldValidation parameters and the body.
func writeRequest(rq *request) (dryRun bool, fv fieldValidation, body []byte, err error) {
	if dryRun, err = isDryRun(rq); err != nil {
		return false, fv, nil, err
	}
	if fv, err = parseFieldValidation(rq.q); err != nil {
		return false, fv, nil, err
	}
	body, err = readBody(rq.r)
	return dryRun, fv, body, err
}

func invalid(k *kinds.Kind, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(k.GVK.GroupKind(), name, errs)
}

// create handles POST on a collection.
func (s *Server) create(rq *request) error {
	dryRun, fv, body, err := writeRequest(rq)
	if err != nil {
		return err
	}
	obj, err := decodeBody(rq.w, rq.r, body, rq.kind.GVK, nil, fv)
	if err != nil {
		return err
	}
	out, err := s.createObject(rq, obj, managerName(rq.q.Get("fieldManager"), rq.r.UserAgent()), dryRun)
	if err != nil {
		return err
	}
	return s.respond(rq, http.StatusCreated, out)
}

// prepareCreate runs the create path up to storage: system metadata,
// defaulting, admission, validation and managed fields. It returns the
// admission attributes so a failed write can release what was reserved.
// applied means obj's managed fields were already computed by server-side apply.
func (s *Server) prepareCreate(rq *request, obj runtime.Object, manager string, dryRun bool, applied bool) (runtime.Object, *admission.Attributes, error) {
	k := rq.kind
	m := metaOf(obj)
	if k.Namespaced {
		switch {
		case m.GetNamespace() == "":
			m.SetNamespace(rq.namespace)
		case m.GetNamespace() != rq.namespace:
			return nil, nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	if rq.name != "" && m.GetName() == "" {
		m.SetName(rq.name)
	}
	if rq.name != "" && m.GetName() != rq.name {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), rq.name))
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + generateNameSuffix())
	}
	if m.GetResourceVersion() != "" {
		return nil, nil, apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	m.SetUID(types.UID(newUID()))
	m.SetCreationTimestamp(metav1.NewTime(time.Now().Truncate(time.Second)))
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetSelfLink("")
	if shapeOf(obj).hasSpec {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
	if k.Default != nil {
		k.Default(obj)
	}
	if k.PrepareForCreate != nil {
		k.PrepareForCreate(obj)
	}
	a := s.attrs(rq, admission.Create, m.GetName(), obj, nil, dryRun)
	if err := s.admit(rq.r.Context(), rq, a); err != nil {
		return nil, nil, err
	}
	if k.Validate != nil {
		if errs := k.Validate(obj); len(errs) > 0 {
			s.release(rq.r.Context(), a)
			return nil, nil, invalid(k, m.GetName(), errs)
		}
	} else if m.GetName() == "" {
		s.release(rq.r.Context(), a)
		return nil, nil, invalid(k, "", field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	if !applied {
		fm, err := s.fields.get(k, rq.sub)
		if err != nil {
			s.release(rq.r.Context(), a)
			return nil, nil, err
		}
		obj = fm.UpdateNoErrors(k.New(), obj, manager)
	}
	return obj, a, nil
}

// createObject creates obj (already decoded) and returns it as stored.
func (s *Server) createObject(rq *request, obj runtime.Object, manager string, dryRun bool) (runtime.Object, error) {
	ctx := rq.r.Context()
	obj, a, err := s.prepareCreate(rq, obj, manager, dryRun, false)
	if err != nil {
		return nil, err
	}
	name := metaOf(obj).GetName()
	if dryRun {
		s.release(ctx, a)
		return obj, nil
	}
	stored, err := toStored(rq.kind, obj)
	if err != nil {
		s.release(ctx, a)
		return nil, err
	}
	out, err := s.cfg.Store.Create(ctx, s.key(rq.kind, metaOf(obj).GetNamespace(), name), stored)
	if err != nil {
		s.release(ctx, a)
		return nil, s.apiError(rq.kind, name, err)
	}
	return toServed(rq.kind, out)
}

// update handles PUT on an object or its status/finalize subresource.
func (s *Server) update(rq *request) error {
	dryRun, fv, body, err := writeRequest(rq)
	if err != nil {
		return err
	}
	obj, err := decodeBody(rq.w, rq.r, body, rq.kind.GVK, nil, fv)
	if err != nil {
		return err
	}
	m := metaOf(obj)
	if m.GetName() != rq.name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), rq.name))
	}
	if rq.kind.Namespaced && m.GetNamespace() != "" && m.GetNamespace() != rq.namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	manager := managerName(rq.q.Get("fieldManager"), rq.r.UserAgent())
	out, created, err := s.updateObject(rq, dryRun, manager, false, func(cur runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	})
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	return s.respond(rq, code, out)
}

// createOnUpdate lists the kinds a PUT may create, as upstream's
// AllowCreateOnUpdate does.
var createOnUpdate = map[string]bool{"endpoints": true}

// updateObject is the write path shared by PUT and PATCH. mutate returns
// the requested object from a copy of the current one (nil when absent).
// With applied (server-side apply) mutate has computed managed fields, and
// an absent object is created.
func (s *Server) updateObject(rq *request, dryRun bool, manager string, applied bool,
	mutate func(cur runtime.Object) (runtime.Object, error)) (runtime.Object, bool, error) {
	ctx := rq.r.Context()
	k := rq.kind
	key := s.key(k, rq.namespace, rq.name)
	allowCreate := rq.sub == "" && (applied || createOnUpdate[k.Resource])
	var created bool
	var admitted *admission.Attributes
	var result runtime.Object
	tryUpdate := func(stored runtime.Object) (runtime.Object, error) {
		if admitted != nil { // a retry: undo the previous attempt's reservations
			s.release(ctx, admitted)
			admitted = nil
		}
		if stored == nil {
			obj, err := mutate(nil)
			if err != nil {
				return nil, err
			}
			obj, a, err := s.prepareCreate(rq, obj, manager, dryRun, applied)
			if err != nil {
				return nil, err
			}
			created, admitted, result = true, a, obj
			return toStored(k, obj)
		}
		created = false
		old, err := toServed(k, stored)
		if err != nil {
			return nil, err
		}
		obj, err := mutate(old.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		obj, a, err := s.prepareUpdate(rq, obj, old, manager, dryRun, applied)
		if err != nil {
			return nil, err
		}
		admitted, result = a, obj
		return toStored(k, obj)
	}
	if dryRun {
		cur, err := s.cfg.Store.Get(ctx, key)
		if err != nil && !(errors.Is(err, storage.ErrNotFound) && allowCreate) {
			return nil, false, s.apiError(k, rq.name, err)
		}
		if _, err := tryUpdate(cur); err != nil {
			return nil, false, err
		}
		s.release(ctx, admitted)
		return result, created, nil
	}
	out, err := s.cfg.Store.GuaranteedUpdate(ctx, key, allowCreate, tryUpdate)
	if err != nil {
		s.release(ctx, admitted)
		return nil, false, s.apiError(k, rq.name, err)
	}
	served, err := toServed(k, out)
	if err != nil {
		return nil, false, err
	}
	if deletable(served) {
		// The last finalizer of an object being deleted is gone: finish it.
		if _, err := s.cfg.Store.Delete(ctx, key, sameRV(metaOf(served).GetResourceVersion())); err == nil {
			s.release(ctx, s.attrs(rq, admission.Delete, rq.name, nil, served, false))
		}
	}
	return served, created, nil
}

// prepareUpdate applies the generic update rules to obj (the requested
// state) against old (the stored state).
func (s *Server) prepareUpdate(rq *request, obj, old runtime.Object, manager string, dryRun bool, applied bool) (runtime.Object, *admission.Attributes, error) {
	k := rq.kind
	m, om := metaOf(obj), metaOf(old)
	if rv := m.GetResourceVersion(); rv != "" && rv != om.GetResourceVersion() {
		return nil, nil, conflict(k, rq.name)
	}
	if m.GetUID() != "" && m.GetUID() != om.GetUID() {
		return nil, nil, apierrors.NewConflict(gr(k), rq.name, fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", m.GetUID(), om.GetUID()))
	}
	switch rq.sub {
	case "status":
		next := old.DeepCopyObject()
		copyStatus(next, obj)
		nm := metaOf(next)
		nm.SetManagedFields(m.GetManagedFields())
		obj, m = next, nm
	case "finalize":
		ns, ok := obj.(*corev1.Namespace)
		if !ok {
			return nil, nil, apierrors.NewBadRequest("finalize is only served for namespaces")
		}
		next := old.DeepCopyObject().(*corev1.Namespace)
		next.Spec.Finalizers = ns.Spec.Finalizers
		obj, m = next, next
	default:
		if k.HasSubresource("status") {
			copyStatus(obj, old)
		}
	}
	if om.GetDeletionTimestamp() != nil {
		for _, f := range m.GetFinalizers() {
			if !slices.Contains(om.GetFinalizers(), f) {
				return nil, nil, invalid(k, rq.name, field.ErrorList{field.Forbidden(field.NewPath("metadata", "finalizers"),
					fmt.Sprintf("no new finalizers can be added if the object is being deleted, found new finalizers []string{%q}", f))})
			}
		}
	}
	m.SetNamespace(om.GetNamespace())
	m.SetUID(om.GetUID())
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetResourceVersion(om.GetResourceVersion())
	m.SetSelfLink("")
	if k.Default != nil {
		k.Default(obj)
	}
	m.SetGeneration(om.GetGeneration())
	if shapeOf(obj).hasSpec && !restEqual(obj, old) {
		m.SetGeneration(om.GetGeneration() + 1)
	}
	a := s.attrs(rq, admission.Update, rq.name, obj, old, dryRun)
	if err := s.admit(rq.r.Context(), rq, a); err != nil {
		return nil, nil, err
	}
	if k.ValidateUpdate != nil {
		if errs := k.ValidateUpdate(obj, old); len(errs) > 0 {
			s.release(rq.r.Context(), a)
			return nil, nil, invalid(k, rq.name, errs)
		}
	}
	if !applied {
		fm, err := s.fields.get(k, rq.sub)
		if err != nil {
			s.release(rq.r.Context(), a)
			return nil, nil, err
		}
		obj = fm.UpdateNoErrors(old, obj, manager)
	}
	return obj, a, nil
}

// deletable reports whether obj is being deleted and nothing holds it.
func deletable(obj runtime.Object) bool {
	m := metaOf(obj)
	if m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return false
	}
	if ns, ok := obj.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
		return false
	}
	if p, ok := obj.(*corev1.Pod); ok && m.GetDeletionGracePeriodSeconds() != nil && *m.GetDeletionGracePeriodSeconds() > 0 && p.Spec.NodeName != "" {
		return false // the kubelet finishes a graceful pod deletion
	}
	return true
}

// sameRV is a delete check: the object must still be at rv.
func sameRV(rv string) func(runtime.Object) error {
	return func(cur runtime.Object) error {
		if metaOf(cur).GetResourceVersion() != rv {
			return storage.ErrConflict
		}
		return nil
	}
}
