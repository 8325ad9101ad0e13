package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/berth-dev/berth/internal/admission"
	"github.com/berth-dev/berth/internal/storage"
)

// deleteOptions reads DeleteOptions from the body (JSON/YAML/protobuf) or
// the query, as client-go sends either.
func deleteOptions(rq *request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(rq.r)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		// Clients send meta.k8s.io/v1 (client-go) or v1 DeleteOptions; the
		// scheme registers DeleteOptions only in each group-version, so
		// JSON and YAML bodies are read directly.
		var err error
		if contentTypeIs(rq.r, runtime.ContentTypeProtobuf) {
			err = unmarshalProtobuf(body, opts)
		} else if err = yaml.Unmarshal(body, opts); err != nil {
			err = apierrors.NewBadRequest(fmt.Sprintf("decode DeleteOptions: %v", err))
		}
		if err != nil {
			return nil, err
		}
	}
	if v := rq.q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest("gracePeriodSeconds: " + err.Error())
		}
		opts.GracePeriodSeconds = &n
	}
	if v := rq.q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := rq.q.Get("orphanDependents"); v != "" {
		b := v == "true"
		opts.OrphanDependents = &b
	}
	if dr := rq.q["dryRun"]; len(dr) > 0 {
		opts.DryRun = dr
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationOrphan, metav1.DeletePropagationBackground, metav1.DeletePropagationForeground:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: Unsupported value: %q: supported values: \"Foreground\", \"Background\", \"Orphan\"", *p))
		}
	}
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unsupported dryRun value %q, only All is supported", v))
		}
	}
	return opts, nil
}

func (s *Server) delete(rq *request) error {
	opts, err := deleteOptions(rq)
	if err != nil {
		return err
	}
	obj, deleted, err := s.deleteObject(rq.r.Context(), rq, rq.name, opts)
	if err != nil {
		return err
	}
	if deleted && shapeOf(obj).status < 0 {
		writeObject(rq.w, http.StatusOK, deletedStatus(rq, obj))
		return nil
	}
	return s.respond(rq, http.StatusOK, obj)
}

func deletedStatus(rq *request, obj runtime.Object) *metav1.Status {
	m := metaOf(obj)
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details: &metav1.StatusDetails{Name: m.GetName(), Group: rq.kind.GVK.Group,
			Kind: rq.kind.Resource, UID: m.GetUID()},
	}
}

// deletionFinalizer is the finalizer a propagation policy asks for, as
// upstream records it for the garbage collector.
func deletionFinalizer(opts *metav1.DeleteOptions) string {
	switch {
	case opts.PropagationPolicy != nil && *opts.PropagationPolicy == metav1.DeletePropagationOrphan:
		return metav1.FinalizerOrphanDependents
	case opts.PropagationPolicy != nil && *opts.PropagationPolicy == metav1.DeletePropagationForeground:
		return metav1.FinalizerDeleteDependents
	case opts.PropagationPolicy == nil && opts.OrphanDependents != nil && *opts.OrphanDependents:
		return metav1.FinalizerOrphanDependents
	}
	return ""
}

// podGrace is how long a pod gets to stop (upstream's pod
// CheckGracefulDelete): none when it never ran on a node or has finished.
func podGrace(p *corev1.Pod, opts *metav1.DeleteOptions) int64 {
	if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return 0
	}
	if opts.GracePeriodSeconds != nil {
		return max(*opts.GracePeriodSeconds, 0)
	}
	if p.Spec.TerminationGracePeriodSeconds != nil {
		return *p.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

// deleteObject deletes one object, or marks it (deletionTimestamp) when a
// finalizer or a pod's grace period keeps it. deleted reports which.
func (s *Server) deleteObject(ctx context.Context, rq *request, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	k := rq.kind
	key := s.key(k, rq.namespace, name)
	dryRun := len(opts.DryRun) > 0
	for attempt := 0; ; attempt++ {
		cur, err := s.getServed(ctx, k, rq.namespace, name)
		if err != nil {
			return nil, false, s.apiError(k, name, err)
		}
		m := metaOf(cur)
		if pc := opts.Preconditions; pc != nil {
			if pc.UID != nil && *pc.UID != m.GetUID() {
				return nil, false, apierrors.NewConflict(gr(k), name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *pc.UID, m.GetUID()))
			}
			if pc.ResourceVersion != nil && *pc.ResourceVersion != m.GetResourceVersion() {
				return nil, false, apierrors.NewConflict(gr(k), name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *pc.ResourceVersion, m.GetResourceVersion()))
			}
		}
		if attempt == 0 {
			if err := s.admit(ctx, rq, s.attrs(rq, admission.Delete, name, nil, cur, dryRun)); err != nil {
				return nil, false, err
			}
		}
		next, mark := s.deletionMark(cur, opts)
		if dryRun {
			if mark {
				return next, false, nil
			}
			return cur, true, nil
		}
		if !mark {
			out, err := s.cfg.Store.Delete(ctx, key, sameRV(m.GetResourceVersion()))
			if errors.Is(err, storage.ErrConflict) && attempt < 10 {
				continue
			}
			if err != nil {
				return nil, false, s.apiError(k, name, err)
			}
			served, err := toServed(k, out)
			if err != nil {
				return nil, false, err
			}
			s.release(ctx, s.attrs(rq, admission.Delete, name, nil, served, false))
			return served, true, nil
		}
		if next == nil { // already marked as asked: nothing to write
			return cur, false, nil
		}
		stored, err := toStored(k, next)
		if err != nil {
			return nil, false, err
		}
		out, err := s.cfg.Store.GuaranteedUpdate(ctx, key, false, func(now runtime.Object) (runtime.Object, error) {
			if metaOf(now).GetResourceVersion() != m.GetResourceVersion() {
				return nil, storage.ErrConflict
			}
			return stored, nil
		})
		if errors.Is(err, storage.ErrConflict) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, false, s.apiError(k, name, err)
		}
		served, err := toServed(k, out)
		return served, false, err
	}
}

// deletionMark decides how a delete proceeds: mark false deletes now;
// otherwise next is the object with deletionTimestamp (and any propagation
// finalizer) set, or nil when cur is already marked that way.
func (s *Server) deletionMark(cur runtime.Object, opts *metav1.DeleteOptions) (next runtime.Object, mark bool) {
	m := metaOf(cur)
	var grace int64
	if p, ok := cur.(*corev1.Pod); ok {
		grace = podGrace(p, opts)
	}
	fin := deletionFinalizer(opts)
	finalizers := m.GetFinalizers()
	pending := len(finalizers) > 0 || fin != ""
	if ns, ok := cur.(*corev1.Namespace); ok && len(ns.Spec.Finalizers) > 0 {
		pending = true
	}
	if !pending && grace == 0 {
		return nil, false
	}
	if m.GetDeletionTimestamp() != nil {
		// Already being deleted: a delete may only shorten the grace period.
		old := m.GetDeletionGracePeriodSeconds()
		if old != nil && grace < *old {
			if grace == 0 && !pending {
				return nil, false
			}
			next = cur.DeepCopyObject()
			nm := metaOf(next)
			nm.SetDeletionGracePeriodSeconds(&grace)
			ts := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
			nm.SetDeletionTimestamp(&ts)
			return next, true
		}
		if fin != "" && !slices.Contains(finalizers, fin) {
			next = cur.DeepCopyObject()
			metaOf(next).SetFinalizers(append(finalizers, fin))
			return next, true
		}
		return nil, true
	}
	next = cur.DeepCopyObject()
	nm := metaOf(next)
	ts := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
	nm.SetDeletionTimestamp(&ts)
	nm.SetDeletionGracePeriodSeconds(&grace)
	if g := nm.GetGeneration(); g > 0 {
		nm.SetGeneration(g + 1) // as upstream's BeforeDelete: controllers see the change
	}
	if fin != "" && !slices.Contains(finalizers, fin) {
		nm.SetFinalizers(append(slices.Clone(finalizers), fin))
	}
	if ns, ok := next.(*corev1.Namespace); ok {
		ns.Status.Phase = corev1.NamespaceTerminating
	}
	return next, true
}

// deleteCollection deletes every object the selectors match.
func (s *Server) deleteCollection(rq *request) error {
	opts, err := deleteOptions(rq)
	if err != nil {
		return err
	}
	pred, err := parsePredicate(rq)
	if err != nil {
		return err
	}
	res, err := s.cfg.Store.List(rq.r.Context(), s.key(rq.kind, rq.namespace, ""), storage.ListOptions{Filter: s.storedFilter(rq.kind, pred)})
	if err != nil {
		return s.apiError(rq.kind, "", err)
	}
	for _, obj := range res.Items {
		m := metaOf(obj)
		sub := *rq
		sub.namespace = m.GetNamespace()
		if _, _, err := s.deleteObject(rq.r.Context(), &sub, m.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	writeObject(rq.w, http.StatusOK, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess})
	return nil
}

// unmarshalProtobuf reads a protobuf-encoded object ("k8s\x00" and a
// runtime.Unknown envelope) whatever group-version its envelope names.
func unmarshalProtobuf(body []byte, into interface{ Unmarshal([]byte) error }) error {
	const magic = "k8s\x00"
	if len(body) < len(magic) || string(body[:len(magic)]) != magic {
		return apierrors.NewBadRequest("protobuf body without the k8s magic prefix")
	}
	var unk runtime.Unknown
	if err := unk.Unmarshal(body[len(magic):]); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decode protobuf envelope: %v", err))
	}
	if err := into.Unmarshal(unk.Raw); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decode protobuf %s: %v", unk.Kind, err))
	}
	return nil
}
